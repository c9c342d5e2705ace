/* zb-duplex-invert: a duplex channel server on libzerobuffer.
 *
 * Serves channel NAME (creates NAME_request; connects to each client's
 * NAME_response) and, by fan-in, every channel NAME@ID a client opens
 * (zbfilter channel-name=NAME@cam1, ...: each client is served on its own,
 * with its own caps), and answers every request with its bytes inverted
 * (255 - b), or, with -m gray, with the frame made grey (raw video named by
 * the client's caps: planar YUV keeps its luma, 4-byte RGB averages its
 * colours), written into the response ring (acquire + commit): no copy
 * besides the transform itself. With -i a client of libzerobuffer
 * (zbfilter, zb_duplex_client) is answered in place: the transform
 * changes the request where it lies in the request ring and the client
 * reads it back there (docs/duplex.md "In place"; other clients, such as
 * the reference implementations', are still answered by copy). Not the
 * default: in bench/zb-bench-duplex.sh the two are within a few percent
 * (docs/duplex.md "Measured").
 *
 *   zb-duplex-invert -n NAME [-m invert|gray] [-s BYTES] [-d MS] [-c CAPS]
 *                    [-i]
 *
 * -s  request ring size (default 16 MiB); -d  sleep MS per request (to
 * simulate a slow model); -c  declare CAPS as the responses' caps in the
 * response metadata (zbfilter then outputs them). Stops on SIGINT/SIGTERM.
 *
 * Requests may be bare bytes (zbfilter frame-format=raw) or gst records
 * (frame-format=gst, docs/frame-format.md): the 80-byte header is skipped
 * and the response carries only the transformed payload, so the response
 * metadata says "frame_format":"raw".
 *
 * Client: gst-launch-1.0 videotestsrc ! video/x-raw,format=I420 !
 *     zbfilter channel-name=NAME ! videoconvert ! autovideosink
 */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zerobuffer/zerobuffer.h>

#define GST_HEADER_SIZE 80

typedef enum
{
  MODE_INVERT,
  MODE_GRAY
} Mode;

/* What a client's metadata says, per channel: NAME and each NAME@ID
 * (fan-in) is a client of its own. */
typedef struct
{
  char channel[ZB_NAME_MAX + 1];
  int gst_requests;             /* this client sends gst records */
  char format[32];              /* raw video format of this client */
  int width, height;
} Client;

#define MAX_CLIENTS 256

/* Handler calls are serialised by the library: no lock needed. */
typedef struct
{
  Mode mode;
  int in_place;                 /* -i: answer in place when the client can */
  int delay_ms;
  unsigned long served;
  Client clients[MAX_CLIENTS];
  int n_clients;
} Server;

static uint64_t
le64 (const uint8_t * p)
{
  uint64_t v = 0;
  int i;

  for (i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

/* Find "key=(type)value" or "key=value" in a caps string. */
static const char *
caps_field (const char *caps, const char *key)
{
  const char *p = caps;
  size_t n = strlen (key);

  while ((p = strstr (p, key)) != NULL) {
    if ((p == caps || p[-1] == ' ' || p[-1] == ',') && p[n] == '=') {
      p += n + 1;
      if (*p == '(')
        p = strchr (p, ')') ? strchr (p, ')') + 1 : p;
      return p;
    }
    p += n;
  }
  return NULL;
}

/* The state of the client of the request being answered (its channel,
 * zb_duplex_server_channel()): NULL when MAX_CLIENTS channels are known
 * already and this is none of them. */
static Client *
client_of (Server * srv, zb_duplex_server * server)
{
  const char *channel = zb_duplex_server_channel (server);
  int i;

  for (i = 0; i < srv->n_clients; i++)
    if (strcmp (srv->clients[i].channel, channel) == 0)
      return &srv->clients[i];
  if (srv->n_clients == MAX_CLIENTS)
    return NULL;
  snprintf (srv->clients[srv->n_clients].channel, ZB_NAME_MAX + 1, "%s",
      channel);
  return &srv->clients[srv->n_clients++];
}

/* A new client: read its caps and frame format from its metadata. */
static void
new_client (Client * s, zb_duplex_server * server)
{
  const void *meta;
  size_t size;
  char *text;
  const char *v;

  s->gst_requests = 0;
  s->format[0] = '\0';
  s->width = s->height = 0;
  if (zb_duplex_server_get_metadata (server, &meta, &size) < 0 || size == 0)
    return;
  text = malloc (size + 1);
  if (text == NULL)
    return;
  memcpy (text, meta, size);
  text[size] = '\0';
  s->gst_requests = strstr (text, "\"frame_format\":\"gst\"") != NULL;
  if ((v = caps_field (text, "format")) != NULL)
    sscanf (v, "%31[A-Za-z0-9_]", s->format);
  if ((v = caps_field (text, "width")) != NULL)
    s->width = atoi (v);
  if ((v = caps_field (text, "height")) != NULL)
    s->height = atoi (v);
  free (text);
  fprintf (stderr, "zb-duplex-invert: new client of %s, %s requests, "
      "%s %dx%d\n", s->channel, s->gst_requests ? "gst" : "raw",
      s->format[0] ? s->format : "bytes", s->width, s->height);
}

/* 255 - b is b XOR 0xff: eight bytes at a time (memcpy keeps it free of
 * alignment and aliasing rules; the compiler turns it into plain loads
 * and stores). A byte loop took 1 ms of a 1080p frame's round trip, and
 * the benchmark measured that loop instead of the channel. @in and @out
 * may be the same (in place). */
static void
invert (const uint8_t * in, uint8_t * out, size_t n)
{
  size_t i = 0;

  for (; i + 8 <= n; i += 8) {
    uint64_t w;

    memcpy (&w, in + i, 8);
    w = ~w;
    memcpy (out + i, &w, 8);
  }
  for (; i < n; i++)
    out[i] = (uint8_t) ~ in[i];
}

/* Grey: planar/semi-planar YUV keeps the luma plane and sets chroma to
 * 128; 4-byte RGB gets the mean of its three colours; else a copy. */
static void
gray (const Client * s, const uint8_t * in, uint8_t * out, size_t n)
{
  static const char *yuv[] = { "I420", "YV12", "NV12", "NV21", "Y42B",
    "Y444", "GRAY8", NULL
  };
  static const char *rgb_first[] = { "RGBA", "BGRA", "RGBx", "BGRx", NULL };
  static const char *rgb_last[] = { "ARGB", "ABGR", "xRGB", "xBGR", NULL };
  size_t luma, i;
  int k;

  for (k = 0; yuv[k]; k++) {
    if (strcmp (s->format, yuv[k]) == 0 && s->width > 0 && s->height > 0) {
      size_t w = (size_t) s->width, h = (size_t) s->height;
      size_t cw = (w + 1) / 2, ch = (h + 1) / 2, packed = w * h;

      /* Raw requests come packed (rows of exactly the width, planes back
       * to back: docs/frame-format.md); gst ones in GStreamer's default
       * layout, whose luma stride is the width rounded up to 4. */
      if (k <= 3)
        packed += 2 * cw * ch;  /* I420, YV12, NV12, NV21 */
      else if (k == 4)
        packed += 2 * cw * h;   /* Y42B */
      else if (k == 5)
        packed *= 3;            /* Y444 */
      luma = n == packed ? w * h : ((w + 3) & ~(size_t) 3) * h;
      luma = luma < n ? luma : n;
      memmove (out, in, luma);
      memset (out + luma, 128, n - luma);
      return;
    }
  }
  for (k = 0; rgb_first[k] || rgb_last[k]; k++) {
    int first = rgb_first[k] && strcmp (s->format, rgb_first[k]) == 0;
    int last = rgb_last[k] && strcmp (s->format, rgb_last[k]) == 0;
    int c = first ? 0 : 1;      /* first colour byte */

    if (!first && !last)
      continue;
    for (i = 0; i + 4 <= n; i += 4) {
      uint8_t m = (uint8_t) ((in[i + c] + in[i + c + 1] + in[i + c + 2]) / 3);

      out[i + (first ? 3 : 0)] = in[i + (first ? 3 : 0)];
      out[i + c] = out[i + c + 1] = out[i + c + 2] = m;
    }
    memmove (out + i, in + i, n - i);
    return;
  }
  memmove (out, in, n);
}

static int
handle (zb_duplex_server * server, const zb_frame * request, void *user_data)
{
  Server *s = user_data;
  Client *c = client_of (s, server);
  const uint8_t *in = request->data;
  size_t n = request->size, size;
  void *out, *writable;
  int ret;

  if (c == NULL)                /* too many channels: answer, untouched */
    return zb_duplex_server_respond (server, in, n);
  if (request->flags & ZB_FRAME_NEW_WRITER)
    new_client (c, server);
  if (c->gst_requests) {
    uint64_t payload;
    unsigned header;

    if (n < GST_HEADER_SIZE || memcmp (in, "ZBGS", 4) != 0)
      return -EBADMSG;
    header = (unsigned) in[6] | ((unsigned) in[7] << 8);
    payload = le64 (in + 72);
    if (header < GST_HEADER_SIZE || header > n || n - header != payload)
      return -EBADMSG;
    in += header;
    n = (size_t) payload;
  }
  if (s->delay_ms > 0) {
    struct timespec ts = { s->delay_ms / 1000,
      (long) (s->delay_ms % 1000) * 1000000L
    };
    nanosleep (&ts, NULL);
  }
  if (n == 0)                   /* a frame has at least one byte */
    return zb_duplex_server_respond (server, "", 1);

  /* With -i in place in the request, where the client reads it back (a
   * client of libzerobuffer), else into the response ring. */
  if (s->in_place
      && zb_duplex_server_request_data (server, &writable, &size) == 0) {
    size_t offset = (size_t) (in - (const uint8_t *) request->data);

    out = (uint8_t *) writable + offset;
    if (s->mode == MODE_GRAY)
      gray (c, out, out, n);
    else
      invert (out, out, n);
    s->served++;
    return zb_duplex_server_respond_in_place (server, offset, n);
  }
  ret = zb_duplex_server_acquire (server, n, &out);
  if (ret < 0)
    return ret;
  if (s->mode == MODE_GRAY)
    gray (c, in, out, n);
  else
    invert (in, out, n);
  s->served++;
  return zb_duplex_server_commit (server);
}

static void *
signal_thread (void *data)
{
  zb_duplex_server *server = data;
  sigset_t set;
  int sig;

  sigemptyset (&set);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGTERM);
  sigwait (&set, &sig);
  zb_duplex_server_stop (server);
  return NULL;
}

static void
usage (void)
{
  fprintf (stderr, "usage: zb-duplex-invert -n NAME [-m invert|gray] "
      "[-s BYTES] [-d MS] [-c CAPS] [-i]\n");
}

int
main (int argc, char **argv)
{
  static Server s;
  zb_duplex_config config = { 0, 16 << 20, 0, 5000 };
  zb_duplex_server *server = NULL;
  const char *name = NULL, *caps = NULL;
  pthread_t thread;
  sigset_t set;
  int opt, ret;

  s.mode = MODE_INVERT;
  while ((opt = getopt (argc, argv, "n:m:s:d:c:ih")) != -1) {
    switch (opt) {
      case 'n':
        name = optarg;
        break;
      case 'm':
        if (strcmp (optarg, "gray") == 0 || strcmp (optarg, "grey") == 0)
          s.mode = MODE_GRAY;
        else if (strcmp (optarg, "invert") == 0)
          s.mode = MODE_INVERT;
        else {
          usage ();
          return 2;
        }
        break;
      case 's':
        config.payload_size = strtoul (optarg, NULL, 0);
        break;
      case 'd':
        s.delay_ms = atoi (optarg);
        break;
      case 'c':
        caps = optarg;
        break;
      case 'i':
        s.in_place = 1;
        break;
      default:
        usage ();
        return 2;
    }
  }
  if (name == NULL) {
    usage ();
    return 2;
  }

  /* signals go to the thread that stops the loop */
  sigemptyset (&set);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGTERM);
  pthread_sigmask (SIG_BLOCK, &set, NULL);

  ret = zb_duplex_server_create (name, &config, &server);
  if (ret < 0) {
    fprintf (stderr, "zb-duplex-invert: cannot create channel %s: %s\n",
        name, zb_strerror (ret));
    return 1;
  }
  {
    /* response metadata: bare bytes, with the declared caps if any */
    char meta[1024];
    int len;

    if (caps)
      len = snprintf (meta, sizeof (meta), "{\"type\":\"zb-duplex-invert\","
          "\"caps\":\"%s\",\"frame_format\":\"raw\"}", caps);
    else
      len = snprintf (meta, sizeof (meta), "{\"type\":\"zb-duplex-invert\","
          "\"frame_format\":\"raw\"}");
    if (len > 0 && (size_t) len < sizeof (meta))
      zb_duplex_server_set_metadata (server, meta, (size_t) len);
  }
  pthread_create (&thread, NULL, signal_thread, server);
  fprintf (stderr, "zb-duplex-invert: serving channel %s (%s)\n", name,
      s.mode == MODE_GRAY ? "gray" : "invert");

  ret = zb_duplex_server_run (server, handle, &s);
  if (ret < 0)
    fprintf (stderr, "zb-duplex-invert: %s\n", zb_strerror (ret));

  /* run() returned by itself (an error): let the signal thread go */
  if (ret < 0)
    pthread_kill (thread, SIGTERM);
  pthread_join (thread, NULL);
  zb_duplex_server_destroy (server);
  fprintf (stderr, "zb-duplex-invert: served %lu requests\n", s.served);
  return ret < 0 ? 1 : 0;
}

/* zerobuffer command-line tool - top: scanning and sampling
 *
 * The buffers are found by zb_admin_scan() (/dev/shm read with pread, lock
 * files through the trusted lock directory, /proc/locks) and sampled with
 * zb_inspect() (a read-only mapping). Nothing is created, locked, posted or
 * removed.
 *
 * Rates come from the OIEB counters, sampled every SAMPLE_MS between two
 * refreshes: frames/s from payload_written_count (wrap markers included,
 * one per turn of the ring), MiB/s from how far payload_write_pos moved
 * (frame headers and the wasted end of the ring included), over the time
 * between the samples that bound the counts. A ring that turns over more
 * than once per sample is under-counted.
 */

#include "zb-top.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* The metadata, for display only */

/* The string member @key of the metadata JSON @m, for display: found by
 * its literal "key": (not parsed: nothing here decides anything), quotes
 * and backslashes unescaped, other escapes and control bytes as '.'. A
 * text that is not a JSON object is taken as a bare caps string (@key
 * "caps"). Empty when absent. */
static void
meta_member (const uint8_t * m, size_t n, const char *key, char *out,
    size_t out_size)
{
  char pat[64];
  size_t plen, i, o = 0;
  const uint8_t *p = NULL;

  out[0] = '\0';
  for (i = 0; i < n && (m[i] == ' ' || m[i] == '\n' || m[i] == '\t'
          || m[i] == '\r'); i++);
  if (i < n && m[i] != '{') {
    if (strcmp (key, "caps") == 0)
      zb_cli_printable (out, out_size, m + i, n - i);
    return;
  }
  plen = (size_t) snprintf (pat, sizeof (pat), "\"%s\"", key);
  for (i = 0; i + plen <= n; i++) {
    if (memcmp (m + i, pat, plen) == 0) {
      p = m + i + plen;
      break;
    }
  }
  if (p == NULL)
    return;
  while (p < m + n && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  if (p >= m + n || *p++ != ':')
    return;
  while (p < m + n && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  if (p >= m + n || *p++ != '"')
    return;
  while (p < m + n && *p != '"' && o + 1 < out_size) {
    uint8_t c = *p++;

    if (c == '\\' && p < m + n) {
      c = *p++;
      if (c != '"' && c != '\\' && c != '/')
        c = '.';
    }
    out[o++] = (c < 0x20 || c == 0x7f) ? '.' : (char) c;
  }
  out[o] = '\0';
}

/* ------------------------------------------------------------------ */
/* Sampling */

static Row *
row_get (Top * t, const char *name)
{
  size_t i;
  Row *r;

  for (i = 0; i < t->n; i++) {
    if (strcmp (t->rows[i].name, name) == 0)
      return &t->rows[i];
  }
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    Row *rows = realloc (t->rows, cap * sizeof (Row));

    if (rows == NULL)
      return NULL;
    t->rows = rows;
    t->cap = cap;
  }
  r = &t->rows[t->n];
  memset (r, 0, sizeof (*r));
  r->name = strdup (name);
  if (r->name == NULL)
    return NULL;
  t->n++;
  return r;
}

/* The writer's published drops, validated by zb_inspect_writer(). */
static void
row_drops (Row * r)
{
  zb_writer_stats ws;
  int ret;

  r->drops = 0;
  r->drops_state = DROPS_NONE;
  if (r->st.writer_pid == 0)
    return;
  ret = zb_inspect_writer (r->name, r->st.writer_pid, &ws);
  if (ret == 0) {
    r->drops_state = DROPS_PUBLISHED;
    r->drops = ws.drops;
  } else if (ret == -ESRCH) {
    r->drops_state = DROPS_GONE;
  } else if (ret != -ENOENT) {
    r->drops_state = DROPS_REFUSED;
  }
}

/* Count what moved since the last sample of @r; 1 when it (re)starts
 * counting from this sample instead. */
static int
row_sample (Row * r, const zb_status * st)
{
  uint64_t df, db, p = st->payload_size;

  r->sample_us = zb_cli_now_us ();
  if (!r->have_base || st->payload_size != r->base_size
      || st->written_count < r->base_written) {
    /* first sight, or a new buffer of that name: start over */
    r->have_base = 1;
    r->restarted = 1;
    r->frames = r->bytes = 0;
    r->since_us = r->sample_us;
    r->rates_known = 0;
    r->base_size = st->payload_size;
    r->base_written = st->written_count;
    r->base_wp = st->write_pos;
    return 1;
  }
  df = st->written_count - r->base_written;
  if (df > 0 && p > 0 && st->write_pos <= p && r->base_wp <= p) {
    db = (st->write_pos + p - r->base_wp) % p;
    if (db == 0)
      db = p;                   /* once round the ring */
    r->frames += df;
    r->bytes += db;
  }
  r->base_written = st->written_count;
  r->base_wp = st->write_pos;
  return 0;
}

/* Between refreshes: sample every present buffer. */
void
top_sample (Top * t)
{
  size_t i;

  for (i = 0; i < t->n; i++) {
    Row *r = &t->rows[i];
    zb_status st;

    if (!r->present || !r->e.valid)
      continue;
    if (zb_inspect (r->name, &st, NULL, 0, NULL) == 0)
      row_sample (r, &st);
  }
}

/* A refresh: scan, take the last sample of the period, compute the rates.
 * 0, or -1 when /dev/shm cannot be read. */
int
top_refresh (Top * t, uint8_t * meta)
{
  EntryList l = { NULL, 0, 0 };
  int64_t now = zb_cli_now_us ();
  double elapsed = (double) (now - t->period_start_us) / 1e6;
  int lock_dir, ret;
  size_t i, k;

  lock_dir = zb_admin_lock_dir ("top", NULL);
  ret = zb_admin_scan ("top", lock_dir, &l);
  if (lock_dir >= 0)
    close (lock_dir);
  if (ret < 0)
    return -1;

  for (i = 0; i < t->n; i++)
    t->rows[i].present = 0;
  for (i = 0; i < l.n; i++) {
    Row *r = row_get (t, l.items[i].name);
    size_t meta_len = 0;

    if (r == NULL)
      continue;
    r->present = 1;
    r->e = l.items[i];
    r->e.name = r->name;
    r->have_status = 0;
    r->type[0] = r->caps[0] = '\0';
    r->meta_len = 0;
    if (!r->e.valid)
      continue;
    if (zb_inspect (r->name, &r->st, meta, META_CAP, &meta_len) < 0)
      continue;
    r->have_status = 1;
    r->meta_len = meta_len;
    if (meta_len > META_CAP)
      meta_len = META_CAP;
    meta_member (meta, meta_len, "type", r->type, sizeof (r->type));
    meta_member (meta, meta_len, "caps", r->caps, sizeof (r->caps));
    row_drops (r);
    /* rows are made here only, so a row that is not (re)started now has
     * counted since the previous refresh: a whole period */
    r->restarted = 0;
    /* over the time between the samples that bound the counts, not the
     * refresh period: a slow scan would count more frames than its time */
    if (row_sample (r, &r->st) == 0 && !r->restarted && elapsed > 0 &&
        r->sample_us > r->since_us) {
      double span = (double) (r->sample_us - r->since_us) / 1e6;

      r->rates_known = 1;
      r->fps = (double) r->frames / span;
      r->mibps = (double) r->bytes / span / (1024.0 * 1024.0);
    } else {
      r->rates_known = 0;
    }
    r->frames = r->bytes = 0;
    r->since_us = r->sample_us;
  }
  zb_admin_free (&l);

  /* forget the buffers that are gone */
  for (i = k = 0; i < t->n; i++) {
    if (t->rows[i].present)
      t->rows[k++] = t->rows[i];
    else
      free (t->rows[i].name);
  }
  t->n = k;
  t->period_start_us = now;
  return 0;
}

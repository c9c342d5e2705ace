/* libzerobuffer - discovery: notice the buffers of NAME and NAME@* that
 * appear in /dev/shm, without polling (shared by fanout.c and duplex.c).
 *
 * One thread waits on an inotify watch of /dev/shm (IN_CREATE,
 * IN_MOVED_TO) and on an eventfd (zb_discovery_poke(), or stop), and calls
 * the owner's scan function when an event may concern NAME, while objects
 * looked half-created at the last scan, and every recheck_ms anyway. The
 * scan function does the owner's work (connect a reader, create a request
 * buffer); it returns how many objects looked not ready yet.
 */

#include "zb-private.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

/* A peer's last step (its pid in the OIEB) makes no inotify event: after
 * an event, look again this often for this long (as zbsink's watch). */
#define SETTLE_INTERVAL_MS 5
#define SETTLE_TIME_MS 200

/* Without inotify: how often to look. */
#define NO_WATCH_INTERVAL_MS 100

struct zb_discovery
{
  char name[ZB_NAME_MAX + 1];
  size_t name_len;
  int recheck_ms;
  zb_discovery_scan_func scan;
  void *user_data;
  int inotify_fd;               /* -1 without inotify */
  int wake_fd;                  /* eventfd: rescan now, or stop */
  int stopping;                 /* atomic */
  int thread_started;
  pthread_t thread;
};

int
zb_discovery_matches (const char *name, size_t name_len, const char *entry,
    int with_sems)
{
  if (with_sems && strncmp (entry, "sem.sem-", 8) == 0
      && (entry[8] == 'w' || entry[8] == 'r') && entry[9] == '-')
    entry += 10;
  if (strncmp (entry, name, name_len) != 0)
    return 0;
  entry += name_len;
  return entry[0] == '\0' || (entry[0] == '@' && entry[1] != '\0');
}

int
zb_discovery_for_each (zb_discovery * d, zb_discovery_entry_func func,
    void *user_data)
{
  DIR *dir = opendir (ZB_SHM_DIR);
  struct dirent *de;
  int not_ready = 0;

  if (dir == NULL)
    return 0;
  while ((de = readdir (dir)) != NULL) {
    if (!zb_discovery_matches (d->name, d->name_len, de->d_name, 0)
        || zb_name_check (de->d_name) < 0)
      continue;
    if (zb_discovery_stopping (d))
      break;
    not_ready += func (de->d_name, user_data);
  }
  closedir (dir);
  return not_ready;
}

int
zb_discovery_stopping (zb_discovery * d)
{
  return __atomic_load_n (&d->stopping, __ATOMIC_ACQUIRE);
}

/* Read the pending inotify events: 1 if one may concern NAME. */
static int
drain_events (zb_discovery * d)
{
  union
  {
    struct inotify_event ev;
    char bytes[4096];
  } buf;
  ssize_t n, off;
  int hit = 0;

  while ((n = read (d->inotify_fd, &buf, sizeof (buf))) > 0) {
    for (off = 0; off < n;) {
      const struct inotify_event *ev =
          (const struct inotify_event *) (buf.bytes + off);

      if ((ev->mask & IN_Q_OVERFLOW) || (ev->len > 0
              && zb_discovery_matches (d->name, d->name_len, ev->name, 1)))
        hit = 1;
      off += (ssize_t) sizeof (struct inotify_event) + ev->len;
    }
  }
  return hit;
}

static void *
discovery_main (void *data)
{
  zb_discovery *d = data;
  int64_t now = zb_now_ms ();
  int64_t settle_until = 0, next_recheck = now + d->recheck_ms;

  for (;;) {
    struct pollfd fds[2];
    int64_t timeout;
    int nfds = 0, scan = 0;

    now = zb_now_ms ();
    timeout = next_recheck - now;
    if (settle_until > now && timeout > SETTLE_INTERVAL_MS)
      timeout = SETTLE_INTERVAL_MS;
    if (d->inotify_fd < 0 && timeout > NO_WATCH_INTERVAL_MS)
      timeout = NO_WATCH_INTERVAL_MS;
    if (timeout < 0)
      timeout = 0;
    fds[nfds].fd = d->wake_fd;
    fds[nfds++].events = POLLIN;
    if (d->inotify_fd >= 0) {
      fds[nfds].fd = d->inotify_fd;
      fds[nfds++].events = POLLIN;
    }
    poll (fds, (nfds_t) nfds, (int) timeout);
    if (zb_discovery_stopping (d))
      break;
    now = zb_now_ms ();
    if (fds[0].revents & POLLIN) {
      uint64_t v;

      /* A peer was dropped: it may come back at once. */
      if (read (d->wake_fd, &v, sizeof (v)) == sizeof (v))
        settle_until = now + SETTLE_TIME_MS;
      scan = 1;
    }
    if (d->inotify_fd >= 0 && drain_events (d)) {
      settle_until = now + SETTLE_TIME_MS;
      scan = 1;
    }
    if (now < settle_until || d->inotify_fd < 0)
      scan = 1;
    if (now >= next_recheck) {
      next_recheck = now + d->recheck_ms;
      scan = 1;
    }
    /* Nothing left half-created: no need to keep looking. */
    if (scan && d->scan (d, d->user_data) == 0)
      settle_until = 0;
  }
  return NULL;
}

int
zb_discovery_start (const char *name, int recheck_ms,
    zb_discovery_scan_func scan, void *user_data, zb_discovery ** out)
{
  zb_discovery *d;
  sigset_t all, old;
  int ret;

  *out = NULL;
  d = calloc (1, sizeof (*d));
  if (d == NULL)
    return -ENOMEM;
  snprintf (d->name, sizeof (d->name), "%s", name);
  d->name_len = strlen (d->name);
  d->recheck_ms = recheck_ms;
  d->scan = scan;
  d->user_data = user_data;
  d->inotify_fd = -1;
  d->wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (d->wake_fd < 0) {
    ret = -errno;
    goto error;
  }
  /* shm_open() creates NAME, sem_open() links sem.sem-X-NAME into place:
   * each an IN_CREATE. Watch before the first scan, so that nothing falls
   * between the two. */
  d->inotify_fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  if (d->inotify_fd >= 0 && inotify_add_watch (d->inotify_fd, ZB_SHM_DIR,
          IN_CREATE | IN_MOVED_TO) < 0) {
    close (d->inotify_fd);
    d->inotify_fd = -1;
  }
  scan (d, user_data);

  /* Signals go to the application's threads, never to ours. */
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  ret = -pthread_create (&d->thread, NULL, discovery_main, d);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (ret < 0)
    goto error;
  d->thread_started = 1;
  *out = d;
  return 0;

  /* ERRORS */
error:
  zb_discovery_stop (d);
  return ret;
}

void
zb_discovery_poke (zb_discovery * d)
{
  uint64_t one = 1;

  if (d == NULL)
    return;
  if (write (d->wake_fd, &one, sizeof (one)) < 0) {
    /* the counter is full: a wakeup is pending anyway */
  }
}

void
zb_discovery_join (zb_discovery * d)
{
  if (d == NULL)
    return;
  __atomic_store_n (&d->stopping, 1, __ATOMIC_RELEASE);
  if (d->thread_started) {
    zb_discovery_poke (d);
    pthread_join (d->thread, NULL);
    d->thread_started = 0;
  }
}

void
zb_discovery_stop (zb_discovery * d)
{
  if (d == NULL)
    return;
  zb_discovery_join (d);
  if (d->inotify_fd >= 0)
    close (d->inotify_fd);
  if (d->wake_fd >= 0)
    close (d->wake_fd);
  free (d);
}

/* Helpers of the fan-out tests (test_zbfanout.c, test_zbfanoutelem.c):
 * the zbsink-reader-joined / -left messages of a writer's bus, a reader's
 * entry in zbsink's stats. */

#ifndef ZBFANOUT_HELPERS_H
#define ZBFANOUT_HELPERS_H

#include "zbtest.h"

G_BEGIN_DECLS

/* Every zbsink-reader-joined / -left message seen, in order. */
typedef struct
{
  GstBus *bus;
  GPtrArray *msgs;              /* GstStructure */
} Collector;

/* Pop messages for up to @timeout_ms (then without waiting), keeping the
 * reader messages; fails the test on an ERROR message. */
void collect (Collector * c, gint timeout_ms);

/* The message @name for reader @id, or NULL. */
const GstStructure *find_msg (Collector * c, const gchar * name,
    const gchar * id);

/* The same, waiting up to @timeout_ms for it; fails the test without. */
const GstStructure *wait_msg (Collector * c, const gchar * name,
    const gchar * id, gint timeout_ms);

/* The "pid" field of a reader message. */
guint64 msg_pid (const GstStructure * s);

/* The "zbsink-reader" entry of reader @id in @sink's stats, a copy, or
 * NULL. */
GstStructure *reader_stats (GstElement * sink, const gchar * id);

/* @sink's readers property. */
guint readers_prop (GstElement * sink);

/* No object of reader @id of @name is left. */
void p_no_leftovers (const gchar * name, const gchar * id);

G_END_DECLS
#endif /* ZBFANOUT_HELPERS_H */

/* dragoman-monitor: listening to a channel, through the receive path every
 * listener uses (dm_receiver) and PortAudio's default output device (the
 * output of dragoman-listen, clients/listen/out_pa.c). */
#ifndef DRAGOMAN_MONITOR_LISTEN_H
#define DRAGOMAN_MONITOR_LISTEN_H

#include <stddef.h>

struct mon_listen;

/* Loads the conference configuration (and checks its secret) for listening.
 * Problems are printed to stderr (before the screen starts). Returns 0 and
 * *out, DM_ECONFIG, DM_EPERM / DM_EIO (the secret) or DM_ENOMEM. */
int mon_listen_new(const char *config_path, struct mon_listen **out);

/* Stops listening and frees; NULL is fine. */
void mon_listen_free(struct mon_listen *l);

/* Listens to channel id: opens the device and starts receiving, or switches
 * the running receiver. msg says what happened. Returns 0 or a DM_E* code. */
int mon_listen_play(struct mon_listen *l, const char *id, char *msg, size_t cap);

/* Stops listening (closes the device). */
void mon_listen_stop(struct mon_listen *l);

/* The channel listened to, or NULL. */
const char *mon_listen_channel(const struct mon_listen *l);

/* "fr: 1234 packets, 0 lost, 5.1 ms buffered" */
void mon_listen_status(const struct mon_listen *l, char *out, size_t cap);

#endif

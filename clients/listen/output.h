/* dragoman-listen: where the decoded audio goes. One interface, three
 * implementations: a WAV file (out_wav.c), PortAudio (out_pa.c), JACK
 * (out_jack.c). */
#ifndef DRAGOMAN_LISTEN_OUTPUT_H
#define DRAGOMAN_LISTEN_OUTPUT_H

#include <stddef.h>

struct dm_playout;

struct dm_output {
	/* Called on the receiver thread with decoded mono 48 kHz samples. */
	void (*write)(struct dm_output *o, const float *pcm, size_t n);
	void (*free)(struct dm_output *o);
	/* For device outputs: the playout buffer the device pulls from (the
	 * receiver conceals when it is about to run dry); NULL for files. */
	struct dm_playout *playout;
	/* The device's buffer size in frames, 0 if unknown/not a device. */
	unsigned period;
};

/* Each returns 0 and *out, or a negative DM_E* code with a message already
 * printed to stderr (executable code). */
int dm_output_wav_new(const char *path, struct dm_output **out);
/* device: NULL for the default output device, else a PortAudio device name
 * (exact, or a unique substring). */
int dm_output_pa_new(const char *device, double min_ms, struct dm_output **out);
/* name: JACK client name; connect: the one port to connect "out" to, or NULL. */
int dm_output_jack_new(const char *name, const char *connect, double min_ms,
		       struct dm_output **out);

#endif

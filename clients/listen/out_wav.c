#include "output.h"

#include "dragoman/defaults.h"
#include "dragoman/error.h"

#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>

struct out_wav {
	struct dm_output base;
	SNDFILE *f;
};

static void wav_write(struct dm_output *o, const float *pcm, size_t n)
{
	struct out_wav *w = (struct out_wav *)o;
	sf_writef_float(w->f, pcm, (sf_count_t)n);
}

static void wav_free(struct dm_output *o)
{
	struct out_wav *w = (struct out_wav *)o;
	if (w->f)
		sf_close(w->f);
	free(w);
}

int dm_output_wav_new(const char *path, struct dm_output **out)
{
	struct out_wav *w = calloc(1, sizeof *w);
	if (!w)
		return DM_ENOMEM;
	SF_INFO info = {.samplerate = DM_SAMPLE_RATE,
			.channels = 1,
			.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
	w->f = sf_open(path, SFM_WRITE, &info);
	if (!w->f) {
		fprintf(stderr, "dragoman-listen: %s: %s\n", path, sf_strerror(NULL));
		free(w);
		return DM_EIO;
	}
	/* Clip rather than wrap when the float signal exceeds full scale. */
	sf_command(w->f, SFC_SET_CLIPPING, NULL, SF_TRUE);
	w->base.write = wav_write;
	w->base.free = wav_free;
	*out = &w->base;
	return 0;
}

#include "output.h"

#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/playout.h"

#include <portaudio.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out_pa {
	struct dm_output base;
	PaStream *stream;
	bool initialized;
};

static void pa_write(struct dm_output *o, const float *pcm, size_t n)
{
	dm_playout_push(o->playout, pcm, n);
}

/* Real-time: only the playout buffer's lock-free pull. */
static int callback(const void *in, void *outbuf, unsigned long frames,
		    const PaStreamCallbackTimeInfo *ti, PaStreamCallbackFlags flags, void *user)
{
	(void)in;
	(void)ti;
	(void)flags;
	struct out_pa *p = user;
	dm_playout_pull(p->base.playout, outbuf, frames);
	return paContinue;
}

static void pa_free_out(struct dm_output *o)
{
	struct out_pa *p = (struct out_pa *)o;
	if (p->stream) {
		Pa_StopStream(p->stream);
		Pa_CloseStream(p->stream);
	}
	if (p->initialized)
		Pa_Terminate();
	dm_playout_free(p->base.playout);
	free(p);
}

static PaDeviceIndex find_device(const char *name)
{
	PaDeviceIndex found = paNoDevice;
	int n = Pa_GetDeviceCount();
	for (int i = 0; i < n; i++) {
		const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
		if (!d || d->maxOutputChannels < 1)
			continue;
		if (strcmp(d->name, name) == 0)
			return i;
		if (strstr(d->name, name))
			found = found == paNoDevice ? i : -2; /* ambiguous */
	}
	return found;
}

int dm_output_pa_new(const char *device, double min_ms, struct dm_output **out)
{
	struct out_pa *p = calloc(1, sizeof *p);
	if (!p)
		return DM_ENOMEM;
	p->base.write = pa_write;
	p->base.free = pa_free_out;
	int rc = dm_playout_new(DM_SAMPLE_RATE, min_ms, DM_PLAYOUT_MAX_MS, &p->base.playout);
	if (rc < 0) {
		free(p);
		return rc;
	}
	PaError err = Pa_Initialize();
	if (err != paNoError) {
		fprintf(stderr, "dragoman-listen: PortAudio: %s\n", Pa_GetErrorText(err));
		pa_free_out(&p->base);
		return DM_EAUDIO;
	}
	p->initialized = true;
	PaDeviceIndex dev = device ? find_device(device) : Pa_GetDefaultOutputDevice();
	if (dev < 0) {
		fprintf(stderr, "dragoman-listen: no %s PortAudio output device%s%s\n",
			dev == -2 ? "unique" : "such", device ? " " : "", device ? device : "");
		int n = Pa_GetDeviceCount();
		for (int i = 0; i < n; i++) {
			const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
			if (d && d->maxOutputChannels > 0)
				fprintf(stderr, "  device: %s\n", d->name);
		}
		pa_free_out(&p->base);
		return DM_EAUDIO;
	}
	const PaDeviceInfo *info = Pa_GetDeviceInfo(dev);
	PaStreamParameters op = {
		.device = dev,
		.channelCount = 1,
		.sampleFormat = paFloat32,
		.suggestedLatency = info->defaultLowOutputLatency,
	};
	err = Pa_OpenStream(&p->stream, NULL, &op, DM_SAMPLE_RATE, paFramesPerBufferUnspecified,
			    paNoFlag, callback, p);
	if (err == paNoError)
		err = Pa_StartStream(p->stream);
	if (err != paNoError) {
		fprintf(stderr, "dragoman-listen: PortAudio device %s: %s\n", info->name,
			Pa_GetErrorText(err));
		pa_free_out(&p->base);
		return DM_EAUDIO;
	}
	*out = &p->base;
	return 0;
}

#include "dragoman/error.h"

const char *dm_strerror(int code)
{
	switch (code) {
	case DM_OK: return "success";
	case DM_EINVAL: return "invalid argument";
	case DM_ENOMEM: return "out of memory";
	case DM_EIO: return "input/output error";
	case DM_ENOENT: return "not found";
	case DM_EEXIST: return "already exists";
	case DM_EPERM: return "unsafe permissions";
	case DM_ENOSPC: return "buffer too small";
	case DM_EPROTO: return "malformed packet";
	case DM_EAUTH: return "authentication failed";
	case DM_EREPLAY: return "replayed packet";
	case DM_ECRYPTO: return "crypto library error";
	case DM_ECODEC: return "codec error";
	case DM_ENET: return "network error";
	case DM_EJACK: return "JACK error";
	case DM_EAGAIN: return "try again";
	case DM_ELIMIT: return "rate limit reached";
	case DM_ECONFIG: return "configuration error";
	case DM_EAUDIO: return "audio device error";
	case DM_ENOTSUP: return "not supported";
	}
	return "unknown error";
}

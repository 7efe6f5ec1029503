/* dragoman clients: the bearer token of a control-API client (dragomanctl,
 * dragoman-monitor). Executable code: it prints its errors. */
#ifndef DRAGOMAN_CLIENT_TOKEN_H
#define DRAGOMAN_CLIENT_TOKEN_H

#include <curl/curl.h>
#include <stddef.h>

#define DM_CLIENT_TOKEN_MAX 512

/* Reads the token: the first line of token_file, else of $DRAGOMAN_TOKEN_FILE,
 * else of ~/.config/dragoman/token, trimmed; warns when the file is open to
 * group or others. tok gets it (cap bytes, NUL included). On failure prints
 * "prog: why" to stderr. Returns 0, or the exit status to leave with: 2 when
 * no file can be named, 1 when it cannot be read or holds no token. */
int dm_client_token(const char *prog, const char *token_file, char *tok, size_t cap);

/* curl_slist_free_all for request headers, clearing each first: libcurl
 * copies "Authorization: Bearer TOKEN" into the list. NULL is fine. */
void dm_client_headers_free(struct curl_slist *h);

#endif

#include "token.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int read_first_line(const char *prog, const char *path, char *tok, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "%s: cannot read the token file %s: %s\n", prog, path,
			strerror(errno));
		return 1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		fprintf(stderr, "%s: warning: %s is accessible by group or others\n", prog, path);
	/* Unbuffered: stdio's buffer would keep a copy of the token that
	 * fclose frees uncleared. fgets then reads a byte at a time. */
	setvbuf(f, NULL, _IONBF, 0);
	char line[DM_CLIENT_TOKEN_MAX + 64];
	bool got = fgets(line, sizeof line, f) != NULL;
	fclose(f);
	if (!got) {
		fprintf(stderr, "%s: the token file %s is empty\n", prog, path);
		return 1;
	}
	char *s = line;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	int rc = 0;
	if (n == 0 || n >= cap || memchr(s, ' ', n) || memchr(s, '\t', n)) {
		fprintf(stderr, "%s: the first line of %s is not a token\n", prog, path);
		rc = 1;
	} else {
		memcpy(tok, s, n);
		tok[n] = '\0';
	}
	/* OPENSSL_cleanse: a memset of a dying buffer is removed by the
	 * compiler. */
	OPENSSL_cleanse(line, sizeof line);
	return rc;
}

void dm_client_headers_free(struct curl_slist *h)
{
	for (struct curl_slist *p = h; p; p = p->next)
		if (p->data)
			OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(h);
}

int dm_client_token(const char *prog, const char *token_file, char *tok, size_t cap)
{
	char home_file[4096];
	if (!token_file)
		token_file = getenv("DRAGOMAN_TOKEN_FILE");
	if (!token_file || !*token_file) {
		const char *home = getenv("HOME");
		if (!home || !*home) {
			fprintf(stderr, "%s: no --token-file, no $DRAGOMAN_TOKEN_FILE, no $HOME\n",
				prog);
			return 2;
		}
		snprintf(home_file, sizeof home_file, "%s/.config/dragoman/token", home);
		token_file = home_file;
	}
	return read_first_line(prog, token_file, tok, cap);
}

#include "token.h"

#include <errno.h>
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
	memset(line, 0, sizeof line);
	return rc;
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

/*
 * pam_driver - runs PAM calls on ONE handle, as sshd does (tests only).
 *
 *   pam_driver SERVICE USER
 *
 * Reads one call per line from stdin: authenticate, setcred, acct_mgmt,
 * open_session, close_session, chauthtok, chauthtok_expired
 * (PAM_CHANGE_EXPIRED_AUTHTOK), end. Each call runs when its line arrives,
 * so the caller controls the timing; a failed call does not stop the run.
 * The conversation's answers are the next lines of stdin, read when PAM
 * asks. After each call one line goes to stdout: "CALL CODE MESSAGE".
 * End of input or "end": pam_end, then "end 0 ...". Answers are never
 * printed; prompts and messages go to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

static FILE *in;

static char *read_line(void)
{
	char buf[1024];
	size_t n;

	if (!fgets(buf, sizeof(buf), in))
		return NULL;
	n = strcspn(buf, "\n");
	buf[n] = '\0';
	return strdup(buf);
}

static void free_replies(struct pam_response *r, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (r[i].resp) {
			memset(r[i].resp, 0, strlen(r[i].resp));
			free(r[i].resp);
		}
	free(r);
}

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *ud)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	int i;

	(void)ud;
	if (!r)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			fprintf(stderr, "pam_driver: prompt: %s\n", msg[i]->msg);
			r[i].resp = read_line();
			if (!r[i].resp) {
				free_replies(r, n);
				return PAM_CONV_ERR;
			}
			break;
		default:
			fprintf(stderr, "pam_driver: message: %s\n", msg[i]->msg);
			break;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static int call(pam_handle_t *pamh, const char *what, int *known)
{
	*known = 1;
	if (!strcmp(what, "authenticate"))
		return pam_authenticate(pamh, 0);
	if (!strcmp(what, "setcred"))
		return pam_setcred(pamh, PAM_ESTABLISH_CRED);
	if (!strcmp(what, "acct_mgmt"))
		return pam_acct_mgmt(pamh, 0);
	if (!strcmp(what, "open_session"))
		return pam_open_session(pamh, 0);
	if (!strcmp(what, "close_session"))
		return pam_close_session(pamh, 0);
	if (!strcmp(what, "chauthtok"))
		return pam_chauthtok(pamh, 0);
	if (!strcmp(what, "chauthtok_expired"))
		return pam_chauthtok(pamh, PAM_CHANGE_EXPIRED_AUTHTOK);
	*known = 0;
	return PAM_SYSTEM_ERR;
}

int main(int argc, char **argv)
{
	struct pam_conv pc = { conv, NULL };
	pam_handle_t *pamh = NULL;
	int rc, last = PAM_SUCCESS;
	char *line;

	if (argc != 3) {
		fprintf(stderr, "usage: pam_driver SERVICE USER (calls on stdin)\n");
		return 2;
	}
	in = stdin;
	rc = pam_start(argv[1], argv[2], &pc, &pamh);
	if (rc != PAM_SUCCESS) {
		fprintf(stderr, "pam_driver: pam_start: %s\n", pam_strerror(NULL, rc));
		return 1;
	}
	while ((line = read_line()) && strcmp(line, "end") != 0) {
		int known;

		if (!*line) {
			free(line);
			continue;
		}
		rc = call(pamh, line, &known);
		if (known) {
			last = rc;
			printf("%s %d %s\n", line, rc, pam_strerror(pamh, rc));
		} else {
			printf("%s -1 unknown call\n", line);
		}
		fflush(stdout);
		free(line);
	}
	free(line);
	rc = pam_end(pamh, last);
	printf("end %d %s\n", rc, rc == PAM_SUCCESS ? "Success" : "pam_end failed");
	return rc == PAM_SUCCESS ? 0 : 1;
}

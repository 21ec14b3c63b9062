/*
 * fuzz_libclient.c - libwinrm-broker reading what the broker sends: the
 * HELLO, then the replies to one request (the first input byte picks it,
 * enum fuzz_client_op): STATUS_INFO, CRED_INFO lists, POLICY_DECISION,
 * CRED_SESSION and deposit replies, RUN's STDOUT/STDERR/EXIT stream, OK and
 * ERROR frames. The client's reading is not separable from its socket, so
 * the rest of the input is written into a socketpair whose other end the
 * library gets (wbc_connect_fd), then closed: the stream ends where the
 * input does. The library is driven only through its exported API.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "winrm-broker.h"

#define MAX_EVENTS 100000

static struct wbc_target *target(void)
{
	struct wbc_target *t = NULL;

	if (wbc_target_new("win1.corp.example", &t, NULL) < 0)
		abort();
	return t;
}

static void list(struct wbc_conn *c)
{
	struct wbc_cred_info info;

	if (wbc_cred_list_begin(c, NULL) < 0)
		return;
	while (wbc_cred_list_next(c, &info, NULL) == 1)
		if (info.n_allow_uids > WBC_CRED_ACL_MAX || info.n_allow_gids > WBC_CRED_ACL_MAX)
			abort();
}

static void policy(struct wbc_conn *c)
{
	static const char *const args[] = { "/all" };
	struct wbc_policy_decision d;
	struct wbc_target *t = target();

	if (wbc_policy_check(c, NULL, "ops-admin", WBC_SCOPE_ANY, t, "ipconfig", args, 1, &d,
			     NULL) == 0 && d.n_transports > WBC_TRANSPORTS_MAX)
		abort();
	wbc_target_free(t);
}

static void deposit(struct wbc_conn *c)
{
	char token[WBC_DEPOSIT_LEN + 1];
	struct wbc_cred_add *a = NULL;

	if (wbc_cred_add_new("login", WBC_SCOPE_PERSONAL, WBC_KIND_PASSWORD, "alice", "CORP", &a,
			     NULL) < 0 ||
	    wbc_cred_add_secret(a, "fuzz-password", 13, NULL) < 0 ||
	    wbc_cred_add_session(a, WBC_SESSION_DEPOSIT, 3600, NULL) < 0)
		abort();
	if (wbc_cred_add_send_deposit(c, a, token, NULL) == 0 && strlen(token) != WBC_DEPOSIT_LEN)
		abort();
	wbc_cred_add_free(a);
}

static void run(struct wbc_conn *c)
{
	struct wbc_target *t = target();
	struct wbc_run *r = NULL;
	struct wbc_event ev;
	int i;

	if (wbc_run_new("ops-admin", t, "ipconfig", &r, NULL) < 0 ||
	    wbc_run_add_arg(r, "/all", NULL) < 0)
		abort();
	if (wbc_run_start(r, c, NULL) == 0) {
		for (i = 0; i < MAX_EVENTS; i++) {
			if (wbc_run_read(r, &ev, -1, NULL) < 0 || ev.type == WBC_EV_EXIT)
				break;
			if (ev.len)	/* ASan checks the data lies in live memory */
				(void)((volatile const uint8_t *)ev.data)[ev.len - 1];
		}
	}
	wbc_run_free(r);
	wbc_target_free(t);
}

static void drive(struct wbc_conn *c, enum fuzz_client_op op)
{
	struct wbc_status st;
	uint32_t sessions;
	uint64_t id;

	switch (op) {
	case FUZZ_CLIENT_STATUS:
		(void)wbc_status(c, &st, NULL);
		break;
	case FUZZ_CLIENT_LIST:
		list(c);
		break;
	case FUZZ_CLIENT_POLICY:
		policy(c);
		break;
	case FUZZ_CLIENT_SESSION:
		(void)wbc_cred_session(c, "login", WBC_SESSION_OPEN, WBC_NO_OWNER,
				       "0123456789abcdef0123456789abcdef", &id, &sessions, NULL);
		break;
	case FUZZ_CLIENT_DEPOSIT:
		deposit(c);
		break;
	case FUZZ_CLIENT_RUN:
		run(c);
		break;
	default:
		(void)wbc_cred_remove(c, "old", WBC_SCOPE_SHARED, WBC_NO_OWNER, NULL);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wbc_conn *c = NULL;
	size_t at = 1;
	ssize_t n;
	int sv[2];

	if (size == 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	/* What does not fit in the socket buffer is cut: the stream just ends there. */
	while (at < size && (n = send(sv[1], data + at, size - at, MSG_DONTWAIT | MSG_NOSIGNAL)) > 0)
		at += (size_t)n;
	shutdown(sv[1], SHUT_WR);
	if (wbc_connect_fd(sv[0], "fuzz", &c, NULL) == 0) {
		drive(c, (enum fuzz_client_op)(data[0] % FUZZ_CLIENT_OPS));
		wbc_close(c);
	}
	close(sv[1]);
	return 0;
}

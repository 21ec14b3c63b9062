/* status.c - `winrm-broker status`: what the broker reports about itself. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>

static const char status_usage[] =
	"usage: winrm-broker status [--json]\n"
	"\n"
	"Shows the broker's version, uptime, open connections, running operations,\n"
	"the credentials you can see and (for admins) store records that failed to load.\n"
	"\n"
	"  --json       one JSON object\n"
	"  -h, --help   this help\n"
	"\n"
	"Exit status: 0, 1 when the broker cannot be reached or refuses, 2 for a bad\n"
	"command line.\n";

static void print_text(const struct wbc_status *st)
{
	printf("server:      %s\n", st->server);
	printf("uptime:      %" PRIu64 "d %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 "\n",
	       st->uptime_sec / 86400, st->uptime_sec / 3600 % 24, st->uptime_sec / 60 % 60,
	       st->uptime_sec % 60);
	printf("connections: %u\n", st->connections);
	printf("operations:  %u\n", st->operations);
	printf("credentials: %u\n", st->credentials);
	if (st->bad_records >= 0)
		printf("bad records: %" PRId64 "\n", st->bad_records);
}

static void print_json(const struct wbc_status *st)
{
	fputs("{\"server\":", stdout);
	json_string(stdout, st->server);
	printf(",\"uptime_sec\":%" PRIu64 ",\"connections\":%u,\"operations\":%u,"
	       "\"credentials\":%u", st->uptime_sec, st->connections, st->operations,
	       st->credentials);
	if (st->bad_records >= 0)
		printf(",\"bad_records\":%" PRId64, st->bad_records);
	puts("}");
}

int cmd_status(const struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct wbc_error err = { 0 };
	struct wbc_status st;
	struct wbc_conn *c;
	bool json = false;
	int ch, rc;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(status_usage, stdout);
			return 0;
		}
		if (ch != 'j')
			return cli_usage_error(cli, status_usage, "status: unknown option '%s'",
					       argv[optind - 1]);
		json = true;
	}
	if (optind < argc)
		return cli_usage_error(cli, status_usage, "status: unexpected argument '%s'",
				       argv[optind]);
	if (cli_connect(cli, &c, &err) < 0)
		return EXIT_FAIL;
	rc = wbc_status(c, &st, &err);
	wbc_close(c);
	if (rc < 0) {
		cli_error(cli, "%s", err.message);
		return EXIT_FAIL;
	}
	if (json)
		print_json(&st);
	else
		print_text(&st);
	return 0;
}

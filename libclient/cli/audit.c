/*
 * audit.c - `winrm-broker audit verify|show`: checks and reads the broker's
 * hash-chained audit file (common/auditchain.h, docs/audit.md).
 *
 * Works on the file alone, without the broker; reading it needs the
 * file's permissions (root, by default). verify can also take anchors from
 * the .head file beside the log, from the command line, and from the
 * journal, where every record's seq and hash were sent too.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "auditchain.h"

#define DEFAULT_AUDIT_FILE "/var/log/winrm-broker/audit.log"
#define EXIT_BAD 1

static const char audit_usage[] =
	"usage: winrm-broker audit verify [--head FILE | --no-head] [--anchor SEQ:HASH]...\n"
	"                                 [--journal] FILE...\n"
	"       winrm-broker audit show [--file FILE] [--user U] [--host H] [--since T] [--json]\n"
	"\n"
	"verify checks the hash chain of FILE (rotated files: oldest first) and names\n"
	"the first bad line: edited, deleted, reordered, truncated or malformed.\n"
	"  --head FILE       the anchor file (default: the last FILE's .head, if present)\n"
	"  --no-head         do not use the .head file\n"
	"  --anchor SEQ:HASH a seq and hash known from elsewhere (journal, remote copy)\n"
	"  --journal         also check every seq/hash the broker sent to the journal\n"
	"\n"
	"show prints the records (default file " DEFAULT_AUDIT_FILE "):\n"
	"  --user U          only records of user U (name or uid)\n"
	"  --host H          only records for host H\n"
	"  --since T         only records since T: 2024-05-01, 2024-05-01T12:00[:00][Z|+02:00],\n"
	"                    or an age: 30m, 1h, 2d, 1w\n"
	"  --json            the records' JSON lines, unchanged\n"
	"\n"
	"Exit status: 0 the chain is intact, 1 it is not or the file cannot be read,\n"
	"2 bad command line.\n";

#define USAGE_ERROR(...) cli_usage_error(cli, audit_usage, __VA_ARGS__)

enum { O_HEAD = 1000, O_NO_HEAD, O_ANCHOR, O_JOURNAL, O_FILE, O_USER, O_HOST, O_SINCE, O_JSON };

/* --- Reading a file into the verifier --------------------------------------- */

static int feed_file(const struct cli *cli, const char *path, struct wb_auditverify *v)
{
	uint8_t buf[65536];
	FILE *f = fopen(path, "rb");
	size_t n;
	int rc = 0;

	if (!f) {
		cli_error(cli, "audit: cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		wb_auditverify_feed(v, buf, n);
	if (ferror(f)) {
		cli_error(cli, "audit: cannot read %s: %s", path, strerror(errno));
		rc = -1;
	}
	fclose(f);
	return rc;
}

/* The chain id in the first line of path, for the journal match. */
static bool first_chain(const char *path, char chain[WB_AUDIT_CHAIN_HEX + 1])
{
	FILE *f = fopen(path, "rb");
	struct wb_auditrec r;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	const char *c;
	bool ok = false;

	if (!f)
		return false;
	n = getline(&line, &cap, f);
	fclose(f);
	if (n > 1 && wb_auditrec_parse((uint8_t *)line, (size_t)n - 1, &r, NULL, 0) == 0) {
		c = wb_auditrec_get(&r, "chain");
		if (c && strlen(c) == WB_AUDIT_CHAIN_HEX) {
			memcpy(chain, c, WB_AUDIT_CHAIN_HEX + 1);
			ok = true;
		}
		wb_auditrec_free(&r);
	}
	free(line);
	return ok;
}

/* --- Anchors ------------------------------------------------------------------ */

static int anchor_from_head(const struct cli *cli, const char *path, bool required,
			    struct wb_auditverify *v)
{
	uint8_t buf[WB_AUDIT_HEAD_FILE_LEN + 1];
	char chain[WB_AUDIT_CHAIN_HEX + 1];
	struct wb_audit_head h;
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		if (!required && errno == ENOENT)
			return 0;
		cli_error(cli, "audit: cannot open the anchor %s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (wb_audithead_parse(buf, n, chain, &h) < 0) {
		cli_error(cli, "audit: %s is not an audit anchor (.head) file", path);
		return -1;
	}
	if (wb_auditverify_anchor(v, &h, path) < 0)
		return -1;
	return 1;
}

static int anchor_from_arg(const char *arg, const char *source, struct wb_auditverify *v)
{
	struct wb_audit_head h;
	const char *colon = strchr(arg, ':');
	char *end;

	if (!colon || colon == arg || arg[0] < '0' || arg[0] > '9')
		return -1;
	errno = 0;
	h.seq = strtoull(arg, &end, 10);
	if (errno || end != colon ||
	    wb_audit_hex_hash(colon + 1, strlen(colon + 1), h.hash) < 0)
		return -1;
	return wb_auditverify_anchor(v, &h, source);
}

/* The value of FIELD=value in the current entry, NUL-terminated into out. */
static bool journal_field(sd_journal *j, const char *field, char *out, size_t size)
{
	const void *data;
	size_t len, flen = strlen(field);

	if (sd_journal_get_data(j, field, &data, &len) < 0 || len <= flen + 1 ||
	    len - flen - 1 >= size)
		return false;
	memcpy(out, (const char *)data + flen + 1, len - flen - 1);
	out[len - flen - 1] = '\0';
	return true;
}

/* Every (seq, hash) the broker sent to the journal for this chain. */
static int anchors_from_journal(const struct cli *cli, const char *chain,
				struct wb_auditverify *v, size_t *found)
{
	char match[64], seq[32], hex[WB_AUDIT_HEX_LEN + 1], arg[128];
	sd_journal *j = NULL;
	int r;

	*found = 0;
	r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
	if (r < 0) {
		cli_error(cli, "audit: cannot open the journal: %s", strerror(-r));
		return -1;
	}
	snprintf(match, sizeof(match), "WINRM_BROKER_AUDIT_CHAIN=%s", chain);
	r = sd_journal_add_match(j, match, 0);
	SD_JOURNAL_FOREACH(j) {
		if (r < 0)
			break;
		if (!journal_field(j, "WINRM_BROKER_AUDIT_SEQ", seq, sizeof(seq)) ||
		    !journal_field(j, "WINRM_BROKER_AUDIT_HASH", hex, sizeof(hex)))
			continue;
		snprintf(arg, sizeof(arg), "%s:%s", seq, hex);
		if (anchor_from_arg(arg, "the journal", v) == 0)
			(*found)++;
	}
	sd_journal_close(j);
	if (r < 0) {
		cli_error(cli, "audit: journal match failed: %s", strerror(-r));
		return -1;
	}
	return 0;
}

/* --- verify ----------------------------------------------------------------- */

struct verify_args {
	const char *head;
	bool no_head, journal;
	char **files;
	int n_files;
};

static void report(const struct verify_args *a, const struct wb_auditverify *v)
{
	const char *file = a->files[v->fault_file < (unsigned)a->n_files ? v->fault_file :
				    (unsigned)a->n_files - 1];

	if (v->fault == WB_AF_NONE) {
		printf("intact: %" PRIu64 " record(s)", v->lines);
		if (v->lines)
			printf(", seq %" PRIu64 "-%" PRIu64 ", chain %s", v->first_seq, v->last.seq,
			       v->chain);
		printf("; %zu anchor(s) matched", v->anchors_checked);
		if (v->anchors_before)
			printf(", %zu older than these files (not checked)", v->anchors_before);
		putchar('\n');
	} else if (v->fault_line) {
		printf("%s:%" PRIu64 ": %s: %s\n", file, v->fault_line, wb_auditfault_name(v->fault),
		       v->why);
	} else {
		printf("%s: %s: %s\n", file, wb_auditfault_name(v->fault), v->why);
	}
}

static int gather_anchors(const struct cli *cli, const struct verify_args *a,
			  struct wb_auditverify *v, char *default_head, size_t size)
{
	char chain[WB_AUDIT_CHAIN_HEX + 1];
	size_t found;
	int rc = 0;

	if (a->head) {
		rc = anchor_from_head(cli, a->head, true, v);
	} else if (!a->no_head) {
		snprintf(default_head, size, "%s.head", a->files[a->n_files - 1]);
		rc = anchor_from_head(cli, default_head, false, v);
		if (rc == 0)
			fprintf(stderr, "%s: note: no %s: lines cut from the end of the log cannot "
				"be seen without an anchor\n", cli->prog, default_head);
	}
	if (rc < 0 || !a->journal)
		return rc < 0 ? -1 : 0;
	if (!first_chain(a->files[0], chain)) {
		fprintf(stderr, "%s: note: %s does not name its chain on line 1; the journal is "
			"not consulted\n", cli->prog, a->files[0]);
		return 0;
	}
	if (anchors_from_journal(cli, chain, v, &found) < 0)
		return -1;
	if (found == 0)
		fprintf(stderr, "%s: note: the journal holds no records of chain %s (not readable "
			"by this user, or rotated away)\n", cli->prog, chain);
	return 0;
}

/* v holds the --anchor anchors already. */
static int audit_verify(const struct cli *cli, const struct verify_args *a,
			struct wb_auditverify *v)
{
	char default_head[4096];
	int i, rc = 0;

	if (gather_anchors(cli, a, v, default_head, sizeof(default_head)) < 0)
		rc = -1;
	for (i = 0; rc == 0 && i < a->n_files; i++) {
		if (i > 0)
			wb_auditverify_next_file(v);
		rc = feed_file(cli, a->files[i], v);
	}
	if (rc < 0)
		return EXIT_BAD;
	wb_auditverify_end(v);
	report(a, v);
	return v->fault ? EXIT_BAD : 0;
}

static int cmd_verify(const struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "head", required_argument, NULL, O_HEAD },
		{ "no-head", no_argument, NULL, O_NO_HEAD },
		{ "anchor", required_argument, NULL, O_ANCHOR },
		{ "journal", no_argument, NULL, O_JOURNAL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct verify_args a = { 0 };
	struct wb_auditverify v;
	int ch, rc = 0;

	wb_auditverify_init(&v);
	opterr = 0;
	while (rc == 0 && (ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(audit_usage, stdout);
			wb_auditverify_free(&v);
			return 0;
		}
		if (ch == O_HEAD)
			a.head = optarg;
		else if (ch == O_NO_HEAD)
			a.no_head = true;
		else if (ch == O_JOURNAL)
			a.journal = true;
		else if (ch == O_ANCHOR && anchor_from_arg(optarg, "--anchor", &v) < 0)
			rc = USAGE_ERROR("audit verify: --anchor wants SEQ:HASH (HASH: 64 hex "
					 "digits), not '%s'", optarg);
		else if (ch != O_ANCHOR)
			rc = USAGE_ERROR("audit verify: unknown or incomplete option '%s'",
					 argv[optind - 1]);
	}
	a.files = argv + optind;
	a.n_files = argc - optind;
	if (rc == 0 && a.n_files < 1)
		rc = USAGE_ERROR("audit verify: no FILE given");
	if (rc == 0 && a.head && a.no_head)
		rc = USAGE_ERROR("audit verify: --head and --no-head conflict");
	if (rc == 0)
		rc = audit_verify(cli, &a, &v);
	wb_auditverify_free(&v);
	return rc;
}

/* --- show ------------------------------------------------------------------- */

struct show_args {
	const char *file;
	const char *user;
	const char *host;
	bool has_since;
	time_t since;
	bool json;
};

/* "+02:00", "-0530", "Z" or "" (local time) after a parsed date and time. */
static bool apply_zone(const char *rest, struct tm *tm, time_t *out)
{
	int sign, hh, mm;

	if (*rest == '\0') {
		tm->tm_isdst = -1;
		*out = mktime(tm);
		return *out != (time_t)-1;
	}
	if (strcmp(rest, "Z") == 0 || strcmp(rest, "z") == 0) {
		*out = timegm(tm);
		return true;
	}
	if ((rest[0] != '+' && rest[0] != '-') ||
	    (sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2 && sscanf(rest + 1, "%2d%2d", &hh, &mm) != 2) ||
	    hh > 23 || mm > 59 || (strlen(rest) != 6 && strlen(rest) != 5))
		return false;
	sign = rest[0] == '+' ? 1 : -1;
	*out = timegm(tm) - sign * (hh * 3600 + mm * 60);
	return true;
}

/* ISO 8601 (date, optional time, optional zone) or an age: 30s 15m 1h 2d 1w. */
static bool parse_since(const char *s, time_t now, time_t *out)
{
	static const char *const formats[] = {
		"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
		"%Y-%m-%d",
	};
	unsigned long long n;
	char unit, extra;
	size_t i;

	if (sscanf(s, "%llu%c%c", &n, &unit, &extra) == 2 && s[0] >= '0' && s[0] <= '9') {
		static const char units[] = "smhdw";
		static const long secs[] = { 1, 60, 3600, 86400, 604800 };
		const char *u = strchr(units, unit);

		if (!u || !unit || n > (unsigned long long)now / (unsigned long long)secs[u - units])
			return false;
		*out = now - (time_t)n * secs[u - units];
		return true;
	}
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		struct tm tm = { 0 };
		const char *rest = strptime(s, formats[i], &tm);

		if (rest && (*rest == '\0' || *rest == 'Z' || *rest == 'z' || *rest == '+' ||
			     *rest == '-'))
			return apply_zone(rest, &tm, out);
	}
	return false;
}

/* A record's "time" (2024-05-01T12:00:00.123456Z) as a time_t. */
static bool record_time(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

	if (!rest)
		return false;
	*out = timegm(&tm);
	return true;
}

static bool wanted(const struct show_args *a, const struct wb_auditrec *r)
{
	const char *user = wb_auditrec_get(r, "user"), *uid = wb_auditrec_get(r, "uid");
	const char *host = wb_auditrec_get(r, "host");
	time_t t;

	if (a->user && !((user && strcmp(user, a->user) == 0) || (uid && strcmp(uid, a->user) == 0)))
		return false;
	if (a->host && !(host && strcasecmp(host, a->host) == 0))
		return false;
	if (a->has_since && !(record_time(wb_auditrec_get(r, "time"), &t) && t >= a->since))
		return false;
	return true;
}

/* A value for the terminal: control characters (C0, DEL, C1) escaped. */
static void print_value(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	bool quote = !*s || strpbrk(s, " \t\"'\\") != NULL;

	if (quote)
		putchar('"');
	for (; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			printf("\\u%04x", p[1]), p++;
		else if (quote && (*p == '"' || *p == '\\'))
			printf("\\%c", *p);
		else
			putchar(*p);
	}
	if (quote)
		putchar('"');
}

static void print_record(const struct wb_auditrec *r)
{
	const char *t = wb_auditrec_get(r, "time");
	size_t i;

	print_value(t ? t : "-");
	printf(" #%" PRIu64 " ", r->seq);
	print_value(r->event);
	for (i = 0; i < r->n; i++) {
		const char *k = r->f[i].key;

		if (!strcmp(k, "seq") || !strcmp(k, "prev") || !strcmp(k, "hash") ||
		    !strcmp(k, "time") || !strcmp(k, "event"))
			continue;
		printf(" %s=", k);
		print_value(r->f[i].value);
	}
	putchar('\n');
}

static void show_line(const struct show_args *a, const char *line, size_t n)
{
	struct wb_auditrec r;

	if (n > 0 && line[n - 1] == '\n')
		n--;
	if (wb_auditrec_parse((const uint8_t *)line, n, &r, NULL, 0) < 0)
		return;		/* the verifier names it */
	if (wanted(a, &r)) {
		if (a->json) {
			fwrite(line, 1, n, stdout);
			putchar('\n');
		} else {
			print_record(&r);
		}
	}
	wb_auditrec_free(&r);
}

static int audit_show(const struct cli *cli, const struct show_args *a)
{
	struct wb_auditverify v;
	FILE *f = fopen(a->file, "rb");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	if (!f) {
		cli_error(cli, "audit: cannot open %s: %s", a->file, strerror(errno));
		return EXIT_BAD;
	}
	wb_auditverify_init(&v);
	while ((n = getline(&line, &cap, f)) > 0) {
		wb_auditverify_feed(&v, (const uint8_t *)line, (size_t)n);
		show_line(a, line, (size_t)n);
	}
	if (ferror(f)) {
		cli_error(cli, "audit: cannot read %s: %s", a->file, strerror(errno));
		rc = EXIT_BAD;
	}
	fclose(f);
	free(line);
	if (rc == 0 && wb_auditverify_end(&v) != WB_AF_NONE) {
		fflush(stdout);
		fprintf(stderr, "%s: warning: %s:%" PRIu64 ": %s: %s; see `winrm-broker audit verify`\n",
			cli->prog, a->file, v.fault_line, wb_auditfault_name(v.fault), v.why);
		rc = EXIT_BAD;
	}
	wb_auditverify_free(&v);
	return rc;
}

static int cmd_show(const struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, O_FILE },
		{ "user", required_argument, NULL, O_USER },
		{ "host", required_argument, NULL, O_HOST },
		{ "since", required_argument, NULL, O_SINCE },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct show_args a = { .file = DEFAULT_AUDIT_FILE };
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			fputs(audit_usage, stdout);
			return 0;
		case O_FILE:
			a.file = optarg;
			break;
		case O_USER:
			a.user = optarg;
			break;
		case O_HOST:
			a.host = optarg;
			break;
		case O_SINCE:
			if (!parse_since(optarg, time(NULL), &a.since))
				return USAGE_ERROR("audit show: --since wants a date (2024-05-01, "
						   "2024-05-01T12:00:00Z) or an age (1h, 2d), not "
						   "'%s'", optarg);
			a.has_since = true;
			break;
		case O_JSON:
			a.json = true;
			break;
		default:
			return USAGE_ERROR("audit show: unknown or incomplete option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return USAGE_ERROR("audit show: unexpected argument '%s'", argv[optind]);
	return audit_show(cli, &a);
}

int cmd_audit(const struct cli *cli, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (argc < 2)
		return USAGE_ERROR("audit: no subcommand given");
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		fputs(audit_usage, stdout);
		return 0;
	}
	if (strcmp(sub, "verify") == 0)
		return cmd_verify(cli, argc - 1, argv + 1);
	if (strcmp(sub, "show") == 0)
		return cmd_show(cli, argc - 1, argv + 1);
	return USAGE_ERROR("audit: unknown subcommand '%s'", sub);
}

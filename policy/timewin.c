/* timewin.c - time windows ("Mon-Fri 08:00-18:00") and expiry dates.
 *
 * All arithmetic is on "local seconds": the request's now plus its UTC
 * offset, read as if it were UTC. So no time zone database, no localtime()
 * and no clock are touched, and a test can set any moment. */
#include "policy_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DAY_SEC 86400

static const char *const day_names[7] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };

static int fail(struct why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct why *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Day of the week, 0 = Monday; 1970-01-01 was a Thursday. */
static unsigned weekday(int64_t local)
{
	int64_t day = floor_div(local, DAY_SEC);

	return (unsigned)(((day + 3) % 7 + 7) % 7);
}

static uint32_t second_of_day(int64_t local)
{
	return (uint32_t)(local - floor_div(local, DAY_SEC) * DAY_SEC);
}

/* ---- parsing ---- */

static bool digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static unsigned num(const char *s, size_t n)
{
	unsigned x = 0;
	size_t i;

	for (i = 0; i < n; i++)
		x = x * 10 + (unsigned)(s[i] - '0');
	return x;
}

/* "HH:MM" at s (exactly 5 characters); 24:00 only when end is true. */
static int parse_hhmm(const char *s, bool end, uint32_t *out)
{
	unsigned h, m;

	if (!digits(s, 2) || s[2] != ':' || !digits(s + 3, 2))
		return -1;
	h = num(s, 2);
	m = num(s + 3, 2);
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !end)))
		return -1;
	*out = h * 3600 + m * 60;
	return 0;
}

static int parse_day(const char *s, size_t n)
{
	int i;

	if (n != 3)
		return -1;
	for (i = 0; i < 7; i++)
		if (!strncasecmp(s, day_names[i], 3))
			return i;
	return -1;
}

/* "Mon", "Mon-Fri" or "Fri-Mon" (a range wraps past Sunday). */
static int parse_days(const char *s, size_t n, uint8_t *mask)
{
	const char *dash = memchr(s, '-', n);
	int a, b;

	if (!dash) {
		a = b = parse_day(s, n);
	} else {
		a = parse_day(s, (size_t)(dash - s));
		b = parse_day(dash + 1, n - (size_t)(dash - s) - 1);
	}
	if (a < 0 || b < 0)
		return -1;
	*mask = 0;
	for (;;) {
		*mask |= (uint8_t)(1u << a);
		if (a == b)
			break;
		a = (a + 1) % 7;
	}
	return 0;
}

static int parse_window(const char *item, struct time_window *tw, struct why *w)
{
	const char *sp = strchr(item, ' ');
	const char *t;

	if (!sp)
		sp = strchr(item, '\t');
	if (!sp || parse_days(item, (size_t)(sp - item), &tw->days) < 0)
		return fail(w, "time: bad window '%s': expected DAY[-DAY] HH:MM-HH:MM with days "
			    "Mon Tue Wed Thu Fri Sat Sun, e.g. Mon-Fri 08:00-18:00", item);
	t = sp;
	while (*t == ' ' || *t == '\t')
		t++;
	if (strlen(t) != 11 || t[5] != '-' || parse_hhmm(t, false, &tw->start) < 0 ||
	    parse_hhmm(t + 6, true, &tw->end) < 0)
		return fail(w, "time: bad window '%s': expected HH:MM-HH:MM from 00:00 to 24:00, "
			    "e.g. 08:00-18:00 or 22:00-06:00", item);
	if (tw->start == tw->end)
		return fail(w, "time: bad window '%s': it starts where it ends; for a whole day "
			    "write 00:00-24:00", item);
	return 0;
}

static char *trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

int tw_parse_windows(char *v, struct rule *r, struct why *w)
{
	char *item, *save = NULL;

	r->time_text = strdup(v);
	if (!r->time_text)
		return fail(w, "out of memory");
	for (item = strtok_r(v, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		struct time_window tw;

		item = trim(item);
		if (!*item)
			continue;
		if (r->n_windows == WB_POLICY_MAX_WINDOWS)
			return fail(w, "time: more than %d windows", WB_POLICY_MAX_WINDOWS);
		if (parse_window(item, &tw, w) < 0)
			return -1;
		if (!r->windows) {
			r->windows = calloc(WB_POLICY_MAX_WINDOWS, sizeof(*r->windows));
			if (!r->windows)
				return fail(w, "out of memory");
		}
		r->windows[r->n_windows++] = tw;
	}
	if (r->n_windows == 0)
		return fail(w, "time: no window; expected e.g. Mon-Fri 08:00-18:00");
	return 0;
}

static bool valid_date(unsigned y, unsigned m, unsigned d)
{
	static const unsigned mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	return !(m == 2 && d == 29 && !leap);
}

int tw_parse_expiry(const char *v, struct rule *r, struct why *w)
{
	size_t n = strlen(v);
	unsigned y, m, d;
	uint32_t hm = 0;

	if ((n != 10 && n != 16) || !digits(v, 4) || v[4] != '-' || !digits(v + 5, 2) ||
	    v[7] != '-' || !digits(v + 8, 2) ||
	    (n == 16 && ((v[10] != ' ' && v[10] != 'T') || parse_hhmm(v + 11, false, &hm) < 0)))
		return fail(w, "expires: bad date '%s': expected YYYY-MM-DD or YYYY-MM-DD HH:MM "
			    "(local time)", v);
	y = num(v, 4);
	m = num(v + 5, 2);
	d = num(v + 8, 2);
	if (!valid_date(y, m, d))
		return fail(w, "expires: bad date '%s': no such day (years from 1970)", v);
	r->has_expiry = true;
	/* A date alone grants through that whole day. */
	r->expires = days_from_civil(y, m, d) * DAY_SEC + (n == 10 ? DAY_SEC : hm);
	snprintf(r->expires_text, sizeof(r->expires_text), "%.10s%s%.5s", v, n == 16 ? " " : "",
		 n == 16 ? v + 11 : "");
	return 0;
}

/* ---- evaluation ---- */

static bool in_window(const struct time_window *tw, unsigned wd, uint32_t sec)
{
	unsigned yesterday = (wd + 6) % 7;

	if (tw->start < tw->end)
		return (tw->days & (1u << wd)) && sec >= tw->start && sec < tw->end;
	/* Overnight: the evening of a listed day, and the next morning. */
	return ((tw->days & (1u << wd)) && sec >= tw->start) ||
	       ((tw->days & (1u << yesterday)) && sec < tw->end);
}

bool tw_in_windows(const struct rule *r, int64_t local)
{
	unsigned wd = weekday(local);
	uint32_t sec = second_of_day(local);
	size_t i;

	if (r->n_windows == 0)
		return true;
	for (i = 0; i < r->n_windows; i++)
		if (in_window(&r->windows[i], wd, sec))
			return true;
	return false;
}

bool tw_expired(const struct rule *r, int64_t local)
{
	return r->has_expiry && local >= r->expires;
}

void tw_format_weekday_time(int64_t local, char *buf, size_t size)
{
	uint32_t sec = second_of_day(local);

	snprintf(buf, size, "%s %02u:%02u", day_names[weekday(local)], sec / 3600,
		 sec / 60 % 60);
}

void tw_format_datetime(int64_t local, char *buf, size_t size)
{
	uint32_t sec = second_of_day(local);
	int64_t y;
	unsigned m, d;

	civil_from_days(floor_div(local, DAY_SEC), &y, &m, &d);
	snprintf(buf, size, "%04lld-%02u-%02u %02u:%02u", (long long)y, m, d, sec / 3600,
		 sec / 60 % 60);
}

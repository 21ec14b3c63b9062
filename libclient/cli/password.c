/*
 * password.c - secrets into locked memory: from the terminal without echo,
 * from stdin, or from a file (see cli.h). Never from argv or the
 * environment. Every buffer is sodium_malloc'd; secret_free wipes it.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

void secret_free(uint8_t *p)
{
	sodium_free(p);	/* wipes before unmapping; NULL is fine */
}

static uint8_t *secret_alloc(void)
{
	if (sodium_init() < 0)
		return NULL;
	return sodium_malloc(SECRET_MAX + 1);
}

/* Reads fd to EOF into a fresh secret buffer; -EFBIG past SECRET_MAX. */
static int read_all(int fd, uint8_t **out, size_t *len)
{
	uint8_t *buf = secret_alloc();
	size_t n = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r = read(fd, buf + n, SECRET_MAX + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			secret_free(buf);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > SECRET_MAX) {
			secret_free(buf);
			return -EFBIG;
		}
	}
	*out = buf;
	*len = n;
	return 0;
}

int secret_from_stdin(uint8_t **out, size_t *len)
{
	int rc = read_all(STDIN_FILENO, out, len);

	if (rc < 0)
		return rc;
	/* One trailing newline is the echo's or the here-string's, not the password's. */
	if (*len > 0 && (*out)[*len - 1] == '\n') {
		(*len)--;
		if (*len > 0 && (*out)[*len - 1] == '\r')
			(*len)--;
	}
	if (*len == 0) {
		secret_free(*out);
		*out = NULL;
		return -ENODATA;
	}
	return 0;
}

int secret_from_file(const char *path, uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int rc;

	if (fd < 0)
		return -errno;
	rc = read_all(fd, out, len);
	close(fd);
	if (rc == 0 && *len == 0) {
		secret_free(*out);
		*out = NULL;
		rc = -ENODATA;
	}
	return rc;
}

/* Drops the last UTF-8 character of buf[0..*n). */
static void erase_char(const uint8_t *buf, size_t *n)
{
	while (*n > 0 && (buf[*n - 1] & 0xc0) == 0x80)
		(*n)--;
	if (*n > 0)
		(*n)--;
}

/* ch is the terminal's control character idx (and that one is enabled). */
static bool is_cc(const struct termios *t, int idx, uint8_t ch)
{
	return t->c_cc[idx] != _POSIX_VDISABLE && ch == t->c_cc[idx];
}

/*
 * Non-canonical, no echo, no signals: Ctrl-C arrives as a byte at once (and
 * cancels) instead of killing us with the echo still off; erase and kill
 * are done here.
 */
static int read_line(int fd, const struct termios *orig, uint8_t *buf, size_t *len)
{
	size_t n = 0;

	for (;;) {
		uint8_t ch;
		ssize_t r = read(fd, &ch, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		if (ch == '\n' || ch == '\r')
			break;
		if (is_cc(orig, VINTR, ch) || is_cc(orig, VQUIT, ch) || is_cc(orig, VSUSP, ch))
			return -ECANCELED;
		if (is_cc(orig, VEOF, ch) && n == 0)
			return -ECANCELED;
		if (is_cc(orig, VERASE, ch) || ch == 0x7f || ch == 0x08) {
			erase_char(buf, &n);
		} else if (is_cc(orig, VKILL, ch)) {
			n = 0;
		} else if (n < SECRET_MAX) {
			buf[n++] = ch;
		} else {
			return -EFBIG;
		}
	}
	*len = n;
	return 0;
}

static int prompt_once(int fd, const char *prompt, uint8_t **out, size_t *len)
{
	struct termios orig, raw;
	uint8_t *buf = secret_alloc();
	int rc;

	if (!buf)
		return -ENOMEM;
	if (tcgetattr(fd, &orig) < 0) {
		secret_free(buf);
		return -ENXIO;
	}
	raw = orig;
	raw.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (write(fd, prompt, strlen(prompt)) < 0 || tcsetattr(fd, TCSAFLUSH, &raw) < 0) {
		secret_free(buf);
		return -ENXIO;
	}
	rc = read_line(fd, &orig, buf, len);
	tcsetattr(fd, TCSAFLUSH, &orig);
	if (write(fd, "\n", 1) < 0)
		rc = rc < 0 ? rc : -EIO;
	if (rc == 0 && *len == 0)
		rc = -ENODATA;
	if (rc < 0) {
		secret_free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

int secret_from_tty(const char *prompt, bool confirm, uint8_t **out, size_t *len)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	uint8_t *again = NULL;
	size_t again_len = 0;
	int rc;

	if (fd < 0)
		return -ENXIO;
	rc = prompt_once(fd, prompt, out, len);
	if (rc == 0 && confirm) {
		rc = prompt_once(fd, "Again, to confirm: ", &again, &again_len);
		if (rc == 0 && (again_len != *len || sodium_memcmp(again, *out, *len) != 0))
			rc = -EINVAL;
		secret_free(again);
		if (rc < 0) {
			secret_free(*out);
			*out = NULL;
		}
	}
	close(fd);
	return rc;
}

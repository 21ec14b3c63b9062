/* masterkey.c - see masterkey.h. */
#include "masterkey.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "io.h"

struct wb_masterkey {
	uint8_t key[WB_MASTERKEY_LEN];
};

/* The longest valid file is 64 hex digits and a newline. */
#define KEYFILE_MAX (2 * WB_MASTERKEY_LEN + 1)

static void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static void freep(void *p)
{
	free(*(void **)p);
}

static void sodium_freep(void *p)
{
	sodium_free(*(void **)p);
}

#define _cleanup_close_ __attribute__((cleanup(closep)))
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_sodium_ __attribute__((cleanup(sodium_freep)))

int wb_masterkey_from_bytes(const uint8_t *bytes, size_t len, struct wb_masterkey **out,
			    struct wb_error *err)
{
	struct wb_masterkey *k;

	*out = NULL;
	if (len != WB_MASTERKEY_LEN)
		return wb_error_set(err, WB_E_CONFIG, "master key has %zu bytes, expected %d",
				    len, WB_MASTERKEY_LEN);
	/* An all-zero key is a copy of /dev/zero or an empty template, never a real key. */
	if (sodium_is_zero(bytes, len))
		return wb_error_set(err, WB_E_CONFIG,
				    "master key is all zero bytes; generate a random key (docs/store.md)");
	k = sodium_malloc(sizeof(*k));
	if (!k)
		return wb_error_set(err, WB_E_INTERNAL, "master key: out of memory");
	memcpy(k->key, bytes, len);
	if (sodium_mprotect_readonly(k) != 0) {
		sodium_free(k);
		return wb_error_set(err, WB_E_INTERNAL, "master key: mprotect failed: %s",
				    strerror(errno));
	}
	*out = k;
	return 0;
}

const uint8_t *wb_masterkey_bytes(const struct wb_masterkey *key)
{
	return key->key;
}

void wb_masterkey_free(struct wb_masterkey *key)
{
	sodium_free(key); /* makes it writable, wipes, unmaps */
}

static char *dir_of(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);

	return copy ? strdup(dirname(copy)) : NULL;
}

static int check_file(int fd, const char *path, struct wb_error *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return wb_error_set(err, WB_E_IO, "master key %s: stat: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return wb_error_set(err, WB_E_CONFIG,
				    "master key %s is not a regular file; point the key path at the key file",
				    path);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return wb_error_set(err, WB_E_CONFIG,
				    "master key %s is owned by uid %u; fix: chown it to root or to the broker's user (uid %u)",
				    path, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 077)
		return wb_error_set(err, WB_E_CONFIG,
				    "master key %s is accessible by group or others (mode %04o); fix: chmod 600 %s",
				    path, (unsigned)(st.st_mode & 07777), path);
	return 0;
}

/*
 * Refuses a key in the store's directory or anywhere below it, following
 * symlinks: whoever copies or backs up the state directory must not get the
 * key with it.
 */
static int check_not_beside(const char *key_path, const char *store_path, struct wb_error *err)
{
	_cleanup_free_ char *sdir = NULL, *kdir = NULL;
	struct stat sst, st;
	char *slash;

	/* The store file, or (when it names a directory) the state directory itself. */
	if (stat(store_path, &st) == 0 && S_ISDIR(st.st_mode))
		sdir = strdup(store_path);
	else
		sdir = dir_of(store_path);
	if (!sdir)
		return wb_error_set(err, WB_E_INTERNAL, "master key: out of memory");
	if (stat(sdir, &sst) < 0)
		return wb_error_set(err, WB_E_CONFIG,
				    "cannot check where the master key is: store directory %s: %s",
				    sdir, strerror(errno));
	kdir = realpath(key_path, NULL);
	if (!kdir)
		return wb_error_set(err, WB_E_IO, "master key %s: realpath: %s", key_path,
				    strerror(errno));
	/* realpath is absolute: walk up from the key's directory to "/". */
	while ((slash = strrchr(kdir, '/')) != NULL) {
		slash[slash == kdir ? 1 : 0] = '\0';
		if (stat(kdir, &st) == 0 && st.st_dev == sst.st_dev && st.st_ino == sst.st_ino)
			return wb_error_set(err, WB_E_CONFIG,
					    "master key %s is inside the store's directory %s; keep it apart from the data (e.g. /etc/winrm-broker/master-key or a systemd credential)",
					    key_path, sdir);
		if (strcmp(kdir, "/") == 0)
			break;
	}
	return 0;
}

/* Reads up to max bytes; *n > KEYFILE_MAX means the file is too long. */
static int read_upto(int fd, uint8_t *buf, size_t max, size_t *n)
{
	size_t got = 0;

	while (got < max) {
		ssize_t r = read(fd, buf + got, max - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*n = got;
	return 0;
}

static int parse_key(const uint8_t *buf, size_t n, struct wb_masterkey **out, struct wb_error *err)
{
	_cleanup_sodium_ uint8_t *bin = NULL;
	const char *end = NULL;
	size_t bin_len = 0;

	if (n == WB_MASTERKEY_LEN)
		return wb_masterkey_from_bytes(buf, n, out, err);
	if (n == 2 * WB_MASTERKEY_LEN + 1 && buf[n - 1] == '\n')
		n--;
	if (n != 2 * WB_MASTERKEY_LEN)
		return wb_error_set(err, WB_E_CONFIG,
				    "file has the wrong size; expected 32 raw bytes or 64 hex digits (docs/store.md)");
	bin = sodium_malloc(WB_MASTERKEY_LEN);
	if (!bin)
		return wb_error_set(err, WB_E_INTERNAL, "out of memory");
	if (sodium_hex2bin(bin, WB_MASTERKEY_LEN, (const char *)buf, n, NULL, &bin_len, &end) != 0 ||
	    bin_len != WB_MASTERKEY_LEN || end != (const char *)buf + n)
		return wb_error_set(err, WB_E_CONFIG,
				    "64 characters but not 64 hex digits; expected 32 raw bytes or 64 hex digits");
	return wb_masterkey_from_bytes(bin, WB_MASTERKEY_LEN, out, err);
}

int wb_masterkey_load(const char *path, const char *store_path, struct wb_masterkey **out,
		      struct wb_error *err)
{
	_cleanup_free_ char *cred_path = NULL;
	_cleanup_close_ int fd = -1;
	_cleanup_sodium_ uint8_t *buf = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (!path) {
		const char *dir = secure_getenv("CREDENTIALS_DIRECTORY");

		if (!dir || !*dir)
			return wb_error_set(err, WB_E_CONFIG,
					    "no master key: no key file is configured and $CREDENTIALS_DIRECTORY is not set; set the key path, or LoadCredential=%s:PATH in the unit",
					    WB_MASTERKEY_CREDENTIAL);
		if (asprintf(&cred_path, "%s/%s", dir, WB_MASTERKEY_CREDENTIAL) < 0)
			return wb_error_set(err, WB_E_INTERNAL, "master key: out of memory");
		path = cred_path;
	}
	/* O_NONBLOCK: a FIFO planted at the path must not hang the daemon. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return wb_error_set(err, errno == ENOENT ? WB_E_CONFIG : WB_E_IO,
				    "master key %s: %s%s", path, strerror(errno),
				    errno == ENOENT ? "; create one (docs/store.md)" : "");
	rc = check_file(fd, path, err);
	if (rc == 0 && store_path)
		rc = check_not_beside(path, store_path, err);
	if (rc < 0)
		return rc;
	buf = sodium_malloc(KEYFILE_MAX + 1);
	if (!buf)
		return wb_error_set(err, WB_E_INTERNAL, "master key: out of memory");
	rc = read_upto(fd, buf, KEYFILE_MAX + 1, &n);
	if (rc < 0)
		return wb_error_set(err, WB_E_IO, "master key %s: read: %s", path, strerror(-rc));
	rc = parse_key(buf, n, out, err);
	if (rc < 0)
		wb_error_prefix(err, "master key %s", path);
	return rc;
}


static int fsync_dir_of(const char *path)
{
	_cleanup_free_ char *dir = dir_of(path);
	_cleanup_close_ int dfd = -1;

	if (!dir)
		return -ENOMEM;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		return -errno;
	return 0;
}

int wb_masterkey_generate(const char *path, struct wb_error *err)
{
	_cleanup_sodium_ uint8_t *key = sodium_malloc(WB_MASTERKEY_LEN);
	_cleanup_close_ int fd = -1;
	int rc;

	if (!key)
		return wb_error_set(err, WB_E_INTERNAL, "master key: out of memory");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0 && errno == EEXIST)
		return wb_error_set(err, WB_E_EXISTS,
				    "master key %s exists; refusing to replace it (every stored credential is sealed under it)",
				    path);
	if (fd < 0)
		return wb_error_set(err, WB_E_IO, "cannot create master key %s: %s", path,
				    strerror(errno));
	randombytes_buf(key, WB_MASTERKEY_LEN);
	rc = wb_write_all(fd, key, WB_MASTERKEY_LEN);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (rc == 0)
		rc = fsync_dir_of(path);
	if (rc < 0) {
		unlink(path);
		return wb_error_set(err, WB_E_IO, "cannot write master key %s: %s", path,
				    strerror(-rc));
	}
	return 0;
}

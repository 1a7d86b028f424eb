/* mp.c - msgpack helpers: a pre-check that makes hostile input safe to hand
 * to msgpack-c, typed map getters that say what is wrong, packers, and the
 * length-delimited frames of the sim-env protocol. */
#include <errno.h>
#include <string.h>

#include "meshrl.h"

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Walks one msgpack object without building it. Every declared container
 * element needs at least one byte, so containers whose counts exceed the
 * bytes left are refused before msgpack-c would allocate for them. */
static const char *mp_scan(const unsigned char *b, size_t len)
{
	size_t pos = 0;
	uint64_t pending = 1;
	while (pending > 0) {
		if (pos >= len)
			return "truncated";
		unsigned c = b[pos++];
		uint64_t skip = 0, children = 0;
		int lenbytes = 0;
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 ||
		    c == 0xc3) {
		} else if (c >= 0x80 && c <= 0x8f) {
			children = 2 * (uint64_t)(c & 0x0f);
		} else if (c >= 0x90 && c <= 0x9f) {
			children = c & 0x0f;
		} else if (c >= 0xa0 && c <= 0xbf) {
			skip = c & 0x1f;
		} else {
			switch (c) {
			case 0xc4: case 0xd9: lenbytes = 1; break;
			case 0xc5: case 0xda: lenbytes = 2; break;
			case 0xc6: case 0xdb: lenbytes = 4; break;
			case 0xc7: lenbytes = 1; skip = 1; break;
			case 0xc8: lenbytes = 2; skip = 1; break;
			case 0xc9: lenbytes = 4; skip = 1; break;
			case 0xca: skip = 4; break;
			case 0xcb: skip = 8; break;
			case 0xcc: case 0xd0: skip = 1; break;
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xce: case 0xd2: skip = 4; break;
			case 0xcf: case 0xd3: skip = 8; break;
			case 0xd4: skip = 2; break;
			case 0xd5: skip = 3; break;
			case 0xd6: skip = 5; break;
			case 0xd7: skip = 9; break;
			case 0xd8: skip = 17; break;
			case 0xdc: case 0xdd: case 0xde: case 0xdf: {
				int nb = (c == 0xdc || c == 0xde) ? 2 : 4;
				if (len - pos < (size_t)nb)
					return "truncated";
				children = be(b + pos, nb);
				pos += (size_t)nb;
				if (c >= 0xde)
					children *= 2;
				break;
			}
			default:
				return "invalid type byte";
			}
		}
		if (lenbytes) {
			if (len - pos < (size_t)lenbytes)
				return "truncated";
			skip += be(b + pos, lenbytes);
			pos += (size_t)lenbytes;
		}
		if (skip > len - pos)
			return "truncated";
		pos += (size_t)skip;
		pending = pending - 1 + children;
		if (pending > len - pos)
			return "truncated (declared sizes exceed the data)";
	}
	if (pos != len)
		return "trailing bytes after the object";
	return NULL;
}

int mr_mp_parse(const char *buf, size_t len, const char *name, mr_mp_doc *d,
		mr_err *e)
{
	memset(d, 0, sizeof *d);
	msgpack_unpacked_init(&d->up);
	const char *why = mp_scan((const unsigned char *)buf, len);
	if (why)
		return mr_errf(e, MR_EXIT_DATA, "%s: not valid msgpack: %s",
			       name, why);
	size_t off = 0;
	msgpack_unpack_return rc = msgpack_unpack_next(&d->up, buf, len, &off);
	if (rc != MSGPACK_UNPACK_SUCCESS) {
		mr_mp_doc_free(d);
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: not valid msgpack (too deeply nested or malformed)",
			       name);
	}
	d->root = &d->up.data;
	return 0;
}

void mr_mp_doc_free(mr_mp_doc *d)
{
	msgpack_unpacked_destroy(&d->up);
	d->root = NULL;
}

const msgpack_object *mr_mp_get(const msgpack_object *map, const char *key)
{
	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	size_t kl = strlen(key);
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
		    memcmp(k->via.str.ptr, key, kl) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

static const msgpack_object *need(const msgpack_object *map, const char *key,
				  const char *name, mr_err *e)
{
	if (!map || map->type != MSGPACK_OBJECT_MAP) {
		mr_errf(e, MR_EXIT_DATA, "%s: expected a map", name);
		return NULL;
	}
	const msgpack_object *o = mr_mp_get(map, key);
	if (!o)
		mr_errf(e, MR_EXIT_DATA, "%s: missing key '%s'", name, key);
	return o;
}

int mr_mp_str(const msgpack_object *map, const char *key, const char *name,
	      char *buf, size_t bufsize, mr_err *e)
{
	const msgpack_object *o = need(map, key, name, e);
	if (!o)
		return -1;
	if (o->type != MSGPACK_OBJECT_STR)
		return mr_errf(e, MR_EXIT_DATA, "%s: key '%s': not a string",
			       name, key);
	if (o->via.str.size >= bufsize)
		return mr_errf(e, MR_EXIT_DATA, "%s: key '%s': string too long",
			       name, key);
	memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = 0;
	return 0;
}

int mr_mp_i64(const msgpack_object *map, const char *key, const char *name,
	      int64_t lo, int64_t hi, int64_t *out, mr_err *e)
{
	const msgpack_object *o = need(map, key, name, e);
	if (!o)
		return -1;
	int64_t v;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > (uint64_t)INT64_MAX)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: key '%s': %llu is out of range",
				       name, key,
				       (unsigned long long)o->via.u64);
		v = (int64_t)o->via.u64;
	} else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		v = o->via.i64;
	} else {
		return mr_errf(e, MR_EXIT_DATA, "%s: key '%s': not an integer",
			       name, key);
	}
	if (v < lo || v > hi)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: key '%s': %lld is outside %lld..%lld", name,
			       key, (long long)v, (long long)lo, (long long)hi);
	*out = v;
	return 0;
}

int mr_mp_f64(const msgpack_object *map, const char *key, const char *name,
	      double *out, mr_err *e)
{
	const msgpack_object *o = need(map, key, name, e);
	if (!o)
		return -1;
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; break;
	default:
		return mr_errf(e, MR_EXIT_DATA, "%s: key '%s': not a number",
			       name, key);
	}
	return 0;
}

int mr_mp_bin(const msgpack_object *map, const char *key, const char *name,
	      size_t count, size_t elem_size, const void **out, mr_err *e)
{
	const msgpack_object *o = need(map, key, name, e);
	if (!o)
		return -1;
	if (o->type != MSGPACK_OBJECT_BIN)
		return mr_errf(e, MR_EXIT_DATA, "%s: key '%s': not a bin",
			       name, key);
	if (elem_size && count > SIZE_MAX / elem_size)
		return mr_errf(e, MR_EXIT_DATA, "%s: key '%s': size overflow",
			       name, key);
	if (o->via.bin.size != count * elem_size)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: key '%s': %u bytes, expected %zu (%zu x %zu)",
			       name, key, o->via.bin.size, count * elem_size,
			       count, elem_size);
	*out = o->via.bin.ptr;
	return 0;
}

int mr_mp_strs(const msgpack_object *map, const char *key, const char *name,
	       char ***out, size_t *count, mr_err *e)
{
	const msgpack_object *o = need(map, key, name, e);
	if (!o)
		return -1;
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return mr_errf(e, MR_EXIT_DATA, "%s: key '%s': not an array",
			       name, key);
	size_t n = o->via.array.size, bytes = 0;
	for (size_t i = 0; i < n; i++) {
		const msgpack_object *s = &o->via.array.ptr[i];
		if (s->type != MSGPACK_OBJECT_STR)
			return mr_errf(e, MR_EXIT_DATA,
				       "%s: key '%s': element %zu is not a string",
				       name, key, i);
		bytes += s->via.str.size + 1;
	}
	char **v = mr_xcalloc(1, (n + 1) * sizeof(char *) + bytes);
	char *p = (char *)(v + n + 1);
	for (size_t i = 0; i < n; i++) {
		const msgpack_object *s = &o->via.array.ptr[i];
		memcpy(p, s->via.str.ptr, s->via.str.size);
		p[s->via.str.size] = 0;
		v[i] = p;
		p += s->via.str.size + 1;
	}
	*out = v;
	*count = n;
	return 0;
}

int mr_mp_check_header(const msgpack_object *root, const char *name,
		       const char *format, int64_t version, mr_err *e)
{
	char got[64];
	if (mr_mp_str(root, "format", name, got, sizeof got, e) != 0)
		return mr_err_prefix(e, "not a meshrl %s file", format);
	if (strcmp(got, format) != 0)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: format is '%s', expected '%s'", name, got,
			       format);
	int64_t v;
	if (mr_mp_i64(root, "version", name, 0, INT32_MAX, &v, e) != 0)
		return -1;
	if (v != version)
		return mr_errf(e, MR_EXIT_DATA,
			       "%s: %s version %lld, this build reads version %lld",
			       name, format, (long long)v, (long long)version);
	return 0;
}

void mr_pk_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void mr_pk_kv_str(msgpack_packer *pk, const char *key, const char *val)
{
	mr_pk_str(pk, key);
	mr_pk_str(pk, val);
}

void mr_pk_kv_i64(msgpack_packer *pk, const char *key, int64_t val)
{
	mr_pk_str(pk, key);
	msgpack_pack_int64(pk, val);
}

void mr_pk_kv_f64(msgpack_packer *pk, const char *key, double val)
{
	mr_pk_str(pk, key);
	msgpack_pack_double(pk, val);
}

void mr_pk_kv_strs(msgpack_packer *pk, const char *key, char *const *v,
		   size_t n)
{
	mr_pk_str(pk, key);
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		mr_pk_str(pk, v[i]);
}

void mr_pk_kv_bin(msgpack_packer *pk, const char *key, const void *p,
		  size_t nbytes)
{
	mr_pk_str(pk, key);
	msgpack_pack_bin(pk, nbytes);
	msgpack_pack_bin_body(pk, p, nbytes);
}

/* The project targets little-endian hosts (x86-64, arm64); the copies go
 * through memcpy because bin data in a msgpack buffer is unaligned. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "meshrl files are little-endian; add byte swapping here");

void mr_le_f32(float *dst, const void *src, size_t n)
{
	memcpy(dst, src, n * sizeof *dst);
}

void mr_le_f64(double *dst, const void *src, size_t n)
{
	memcpy(dst, src, n * sizeof *dst);
}

void mr_le_i32(int32_t *dst, const void *src, size_t n)
{
	memcpy(dst, src, n * sizeof *dst);
}

int mr_frame_read(FILE *f, char **buf, size_t *cap, size_t *len, mr_err *e)
{
	unsigned char hdr[4];
	size_t got = fread(hdr, 1, 4, f);
	if (got == 0 && feof(f))
		return 0;
	if (got != 4)
		return mr_errf(e, MR_EXIT_DATA,
			       "protocol: input ended inside a frame header");
	uint64_t n = be(hdr, 4);
	if (n > MR_FRAME_MAX)
		return mr_errf(e, MR_EXIT_DATA,
			       "protocol: frame of %llu bytes exceeds the %u-byte limit",
			       (unsigned long long)n, MR_FRAME_MAX);
	if (*cap < n || !*buf) {
		*buf = mr_xrealloc(*buf, n ? n : 1, 1);
		*cap = n ? n : 1;
	}
	if (n && fread(*buf, 1, n, f) != n)
		return mr_errf(e, MR_EXIT_DATA,
			       "protocol: input ended inside a %llu-byte frame",
			       (unsigned long long)n);
	*len = n;
	return 1;
}

int mr_frame_write(FILE *f, const void *buf, size_t len, mr_err *e)
{
	unsigned char hdr[4] = {(unsigned char)(len >> 24),
				(unsigned char)(len >> 16),
				(unsigned char)(len >> 8), (unsigned char)len};
	if (fwrite(hdr, 1, 4, f) != 4 || fwrite(buf, 1, len, f) != len ||
	    fflush(f) != 0)
		return mr_errf(e, MR_EXIT_IO, "protocol: write failed: %s",
			       strerror(errno));
	return 0;
}

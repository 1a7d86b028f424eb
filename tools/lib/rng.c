/* rng.c - xoshiro256** with splitmix64 seeding; (seed, stream) pairs give
 * independent, reproducible sequences. */
#include <math.h>

#include "meshrl.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void mr_rng_seed(mr_rng *r, uint64_t seed, uint64_t stream)
{
	/* Mix the stream in through a second splitmix pass so that nearby
	 * (seed, stream) pairs do not share state words. */
	uint64_t x = seed;
	uint64_t y = splitmix64(&x) ^ (stream * 0xd1342543de82ef95ULL);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&y);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t mr_rng_u64(mr_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double mr_rng_uniform(mr_rng *r)
{
	return (double)(mr_rng_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t mr_rng_below(mr_rng *r, uint64_t n)
{
	/* Lemire's multiply-shift with rejection: unbiased. */
	uint64_t x = mr_rng_u64(r);
	__uint128_t m = (__uint128_t)x * n;
	uint64_t l = (uint64_t)m;
	if (l < n) {
		uint64_t t = -n % n;
		while (l < t) {
			x = mr_rng_u64(r);
			m = (__uint128_t)x * n;
			l = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

double mr_rng_normal(mr_rng *r)
{
	/* Box-Muller; the second value is dropped to keep the state simple. */
	double u1 = 1.0 - mr_rng_uniform(r); /* (0, 1] */
	double u2 = mr_rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double mr_rng_exp(mr_rng *r, double rate)
{
	return -log(1.0 - mr_rng_uniform(r)) / rate;
}

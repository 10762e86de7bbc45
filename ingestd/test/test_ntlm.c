/*
 * test_ntlm.c: the NTLM messages of AUTH NTLM.  The CHALLENGE names the
 * persona's host the way a Windows server does; an AUTHENTICATE is read
 * within its bounds whatever its offsets say, its names become UTF-8, and
 * its response comes out in hashcat's NetNTLMv1/v2 lines.
 */
#include <stdlib.h>
#include <string.h>

#include "ntlm.h"
#include "persona.h"
#include "unit.h"

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static unsigned
le16(const uint8_t *p)
{
	return (unsigned)(p[0] | p[1] << 8);
}

/* The AV pair id of a CHALLENGE's target info as ASCII (from UTF-16). */
static int
av_string(const uint8_t *m, size_t n, unsigned want, char *out, size_t cap)
{
	size_t off = le32(m + 44), len = le16(m + 40), at = off;

	while (at + 4 <= off + len && at + 4 <= n)
	{
		unsigned id = le16(m + at), l = le16(m + at + 2);

		if (id == 0)
			break;
		if (id == want)
		{
			size_t k = 0;

			for (unsigned i = 0; i + 1 < l && k + 1 < cap; i += 2)
				out[k++] = (char)m[at + 4 + i];
			out[k] = '\0';
			return 1;
		}
		at += 4 + l;
	}
	return 0;
}

static void
test_challenge(void)
{
	uint8_t m[NTLM_CHALLENGE_MAX], ch[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	char s[300];
	size_t n;
	uint32_t flags;

	n = ntlm_build_challenge(m, sizeof(m),
	                         NTLM_NEGOTIATE_UNICODE | NTLM_NEGOTIATE_ESS |
	                             NTLM_NEGOTIATE_128 | NTLM_NEGOTIATE_SEAL,
	                         ch, "mail01.corp.example.com", 0x01d9000000000000);
	CHECK(n > 56 && memcmp(m, "NTLMSSP", 8) == 0 && le32(m + 8) == 2);
	flags = le32(m + 20);
	CHECK(flags & NTLM_NEGOTIATE_UNICODE);
	CHECK(!(flags & NTLM_NEGOTIATE_OEM));
	CHECK(flags & NTLM_NEGOTIATE_ESS && flags & NTLM_NEGOTIATE_128);
	CHECK(flags & NTLM_NEGOTIATE_SEAL && flags & NTLM_NEGOTIATE_TARGET_INFO);
	CHECK(!(flags & NTLM_NEGOTIATE_KEY_EXCH)); /* not asked for */
	CHECK(memcmp(m + 24, ch, 8) == 0);
	/* TargetName: the NetBIOS domain, UTF-16LE */
	CHECK(le16(m + 12) == 8 && le32(m + 16) == 56);
	CHECK(memcmp(m + 56, "C\0O\0R\0P\0", 8) == 0);
	CHECK(av_string(m, n, 1, s, sizeof(s)) && strcmp(s, "MAIL01") == 0);
	CHECK(av_string(m, n, 2, s, sizeof(s)) && strcmp(s, "CORP") == 0);
	CHECK(av_string(m, n, 3, s, sizeof(s)) &&
	      strcmp(s, "mail01.corp.example.com") == 0);
	CHECK(av_string(m, n, 4, s, sizeof(s)) &&
	      strcmp(s, "corp.example.com") == 0);
	CHECK(av_string(m, n, 5, s, sizeof(s)) &&
	      strcmp(s, "corp.example.com") == 0);
	/* the target info ends the message: timestamp, then MsvAvEOL */
	CHECK(le32(m + 44) + le16(m + 40) == n);
	CHECK(le16(m + n - 16) == 7 && le16(m + n - 14) == 8);
	CHECK(le32(m + n - 8) == 0x01d90000 && le32(m + n - 4) == 0);
	CHECK(m[48] == 10 && le16(m + 50) == 17763 && m[55] == 15);

	/* an OEM-only client gets OEM names; a long label is cut to 15 */
	n = ntlm_build_challenge(m, sizeof(m), NTLM_NEGOTIATE_OEM, ch,
	                         "verylongmachinename01.example", 0);
	flags = le32(m + 20);
	CHECK(n > 56 && (flags & NTLM_NEGOTIATE_OEM) &&
	      !(flags & NTLM_NEGOTIATE_UNICODE));
	CHECK(le16(m + 12) == 7 && memcmp(m + 56, "EXAMPLE", 7) == 0);
	CHECK(av_string(m, n, 1, s, sizeof(s)) &&
	      strcmp(s, "VERYLONGMACHINE") == 0);
	/* a host without a domain is its own workgroup */
	n = ntlm_build_challenge(m, sizeof(m), 0, ch, "mx", 0);
	CHECK(n > 56 && av_string(m, n, 2, s, sizeof(s)) && strcmp(s, "MX") == 0);
	/* no room: nothing written */
	CHECK(ntlm_build_challenge(m, 40, 0, ch, "mx", 0) == 0);
	CHECK(ntlm_build_challenge(m, 100, 0, ch, "mail01.corp.example.com", 0) ==
	      0);
}

/* An AUTHENTICATE with these payloads (52- or 64-byte header). */
static size_t
build_auth(uint8_t *m, bool long_header, uint32_t flags, const void *lm,
           size_t lml, const void *nt, size_t ntl, const void *dom, size_t dl,
           const void *user, size_t ul, const void *ws, size_t wl)
{
	size_t at = long_header ? 64 : 52;
	const void *p[5] = {lm, nt, dom, user, ws};
	size_t l[5] = {lml, ntl, dl, ul, wl};

	memset(m, 0, at);
	memcpy(m, "NTLMSSP", 8);
	m[8] = 3;
	for (int i = 0; i < 5; i++)
	{
		uint8_t *f = m + 12 + 8 * i;

		f[0] = (uint8_t)l[i];
		f[1] = (uint8_t)(l[i] >> 8);
		f[2] = f[0];
		f[3] = f[1];
		f[4] = (uint8_t)at;
		f[5] = (uint8_t)(at >> 8);
		memcpy(m + at, p[i], l[i]);
		at += l[i];
	}
	if (long_header)
		for (int i = 0; i < 4; i++)
			m[60 + i] = (uint8_t)(flags >> (8 * i));
	return at;
}

static void
test_authenticate(void)
{
	uint8_t m[1024], ch[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
	uint8_t nt[40], lm[24];
	struct ntlm_auth a;
	char *h, *acct;
	size_t n;

	for (int i = 0; i < 40; i++)
		nt[i] = (uint8_t)(0xa0 + i);
	memset(lm, 0x0f, sizeof(lm));

	/* NTLMv2, Unicode: a surrogate pair, an unpaired surrogate, a NUL */
	n = build_auth(m, true, NTLM_NEGOTIATE_UNICODE, "", 0, nt, 40, "C\0o\0:\0",
	               6, "b\0\x3d\xd8\x00\xde\x00\xd8x\0\0\0", 12, "K\0A\0L\0I\0",
	               8);
	CHECK(ntlm_parse_authenticate(m, n, 0, &a));
	CHECK(strcmp(a.domain, "Co:") == 0);
	CHECK(strcmp(a.user, "b\xf0\x9f\x98\x80\xef\xbf\xbdx\xef\xbf\xbd") == 0);
	CHECK(strcmp(a.workstation, "KALI") == 0);
	CHECK(a.nt_len == 40 && a.lm_len == 0);
	h = ntlm_hashcat(&a, ch);
	CHECK(h &&
	      strcmp(h, "b\xf0\x9f\x98\x80\xef\xbf\xbdx\xef\xbf\xbd::Co_:"
	                "1122334455667788:"
	                "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf:"
	                "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7") == 0);
	acct = ntlm_account(&a);
	CHECK(acct && strncmp(acct, "Co:\\b", 5) == 0);
	free(h);
	free(acct);
	ntlm_auth_free(&a);

	/* NTLMv1, OEM names (Latin-1), old 52-byte header: the flags are the
	 * ones negotiated */
	n = build_auth(m, false, 0, lm, 24, nt, 24, "", 0, "Andr\xe9", 5, "", 0);
	CHECK(ntlm_parse_authenticate(m, n, NTLM_NEGOTIATE_OEM, &a));
	CHECK(strcmp(a.user, "Andr\xc3\xa9") == 0 && a.domain[0] == '\0');
	h = ntlm_hashcat(&a, ch);
	CHECK(h && strcmp(h, "Andr\xc3\xa9:::"
	                     "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f:"
	                     "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7:"
	                     "1122334455667788") == 0);
	acct = ntlm_account(&a);
	CHECK(acct && strcmp(acct, "Andr\xc3\xa9") == 0);
	free(h);
	free(acct);
	ntlm_auth_free(&a);

	/* anonymous: no response to crack */
	n = build_auth(m, true, NTLM_NEGOTIATE_UNICODE, "\0", 1, "", 0, "", 0, "",
	               0, "", 0);
	CHECK(ntlm_parse_authenticate(m, n, 0, &a));
	CHECK(ntlm_hashcat(&a, ch) == NULL);
	ntlm_auth_free(&a);

	/* a name longer than NTLM_NAME_MAX units is cut there; an odd length
	 * leaves a U+FFFD */
	{
		uint8_t big[2 * NTLM_NAME_MAX + 40];

		memset(big, 'a', sizeof(big));
		for (size_t i = 1; i < sizeof(big); i += 2)
			big[i] = 0;
		n = build_auth(m, true, NTLM_NEGOTIATE_UNICODE, "", 0, "", 0, big,
		               sizeof(big), "u\0v", 3, "", 0);
		CHECK(ntlm_parse_authenticate(m, n, 0, &a));
		CHECK(strlen(a.domain) == NTLM_NAME_MAX);
		CHECK(strcmp(a.user, "u\xef\xbf\xbd") == 0);
		ntlm_auth_free(&a);
	}

	/* out of bounds: a payload past the end, an offset that wraps */
	n = build_auth(m, true, NTLM_NEGOTIATE_UNICODE, "", 0, nt, 40, "", 0, "u\0",
	               2, "", 0);
	CHECK(!ntlm_parse_authenticate(m, n - 1, 0, &a));
	m[36 + 4] = 0xff, m[36 + 5] = 0xff, m[36 + 6] = 0xff, m[36 + 7] = 0xff;
	CHECK(!ntlm_parse_authenticate(m, n, 0, &a));
	/* not an AUTHENTICATE */
	CHECK(!ntlm_parse_authenticate(m, 51, 0, &a));
	m[8] = 1;
	CHECK(!ntlm_parse_authenticate(m, n, 0, &a));
	{
		uint32_t f = 0;

		CHECK(ntlm_parse_negotiate(m, 16, &f));
		CHECK(!ntlm_parse_negotiate(m, 15, &f));
		m[0] = 'n';
		CHECK(!ntlm_parse_negotiate(m, n, &f));
	}
}

/* Which personas offer which mechanism, inside TLS and out. */
static void
test_offers(void)
{
	const struct persona *ex = persona_find("exchange"),
	                     *pf = persona_find("postfix");

	CHECK(ex && pf);
	if (!ex || !pf)
		return;
	CHECK(persona_offers_auth(ex, false, "NTLM", 4));
	CHECK(persona_offers_auth(ex, false, "gssapi", 6));
	CHECK(!persona_offers_auth(ex, false, "LOGIN", 5));
	CHECK(persona_offers_auth(ex, true, "LOGIN", 5));
	CHECK(!persona_offers_auth(ex, false, "NTL", 3));
	CHECK(!persona_offers_auth(ex, false, "AUTH", 4));
	CHECK(!persona_offers_auth(pf, false, "NTLM", 4));
	CHECK(persona_offers_auth(pf, false, "PLAIN", 5));
	/* only the first line counts: "AUTH=PLAIN LOGIN" is its old spelling */
	CHECK(!persona_offers_auth(pf, false, "AUTH=PLAIN", 10));
}

void
test_ntlm(void)
{
	test_challenge();
	test_authenticate();
	test_offers();
}

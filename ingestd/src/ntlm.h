/*
 * ntlm.h: the three NTLM messages of an SMTP AUTH NTLM exchange
 * ([MS-NLMP] 2.2.1, carried as in [MS-SMTPNTLM]), for a persona that
 * advertises NTLM the way Exchange does.
 *
 * The server side only: read the client's NEGOTIATE, write a CHALLENGE
 * naming the persona's host, read the AUTHENTICATE.  Nothing is verified
 * (an open relay accepts every account); what the client offered is kept,
 * with its response in the form password crackers read.
 *
 * Pure C over bytes: no I/O, no allocation except the strings of a parsed
 * AUTHENTICATE.  Every length and offset in a message is checked against
 * the message; nothing outside it is read.
 */
#ifndef SPAMLAB_NTLM_H
#define SPAMLAB_NTLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* NegotiateFlags bits used here ([MS-NLMP] 2.2.2.5). */
#define NTLM_NEGOTIATE_UNICODE     0x00000001u
#define NTLM_NEGOTIATE_OEM         0x00000002u
#define NTLM_REQUEST_TARGET        0x00000004u
#define NTLM_NEGOTIATE_SIGN        0x00000010u
#define NTLM_NEGOTIATE_SEAL        0x00000020u
#define NTLM_NEGOTIATE_NTLM        0x00000200u
#define NTLM_NEGOTIATE_ALWAYS_SIGN 0x00008000u
#define NTLM_TARGET_TYPE_DOMAIN    0x00010000u
#define NTLM_NEGOTIATE_ESS         0x00080000u /* extended session security */
#define NTLM_NEGOTIATE_TARGET_INFO 0x00800000u
#define NTLM_NEGOTIATE_VERSION     0x02000000u
#define NTLM_NEGOTIATE_128         0x20000000u
#define NTLM_NEGOTIATE_KEY_EXCH    0x40000000u
#define NTLM_NEGOTIATE_56          0x80000000u

/* Room a CHALLENGE needs: header, target name and info for host names
 * of up to 255 bytes (UTF-16, so doubled), with slack. */
#define NTLM_CHALLENGE_MAX 2048

/* Longest name kept from an AUTHENTICATE, in UTF-16 code units. */
#define NTLM_NAME_MAX 256

/* A NEGOTIATE message: its flags, or false when the bytes are not one. */
bool ntlm_parse_negotiate(const uint8_t *m, size_t n, uint32_t *flags);

/*
 * Write the CHALLENGE answering a NEGOTIATE with client_flags, as a
 * Windows server called host (a DNS name: its first label becomes the
 * NetBIOS computer name, the rest the domain) would, with this 8-byte
 * server challenge and time (FILETIME: 100 ns units since 1601).  Returns
 * the length written, or 0 when cap is too small.
 */
size_t ntlm_build_challenge(uint8_t *out, size_t cap, uint32_t client_flags,
                            const uint8_t challenge[8], const char *host,
                            uint64_t filetime);

/* What an AUTHENTICATE offered.  The names are UTF-8 (malloc'd, never
 * NULL after a successful parse, "" when absent); lm and nt point into
 * the parsed message. */
struct ntlm_auth
{
	char *domain, *user, *workstation;
	const uint8_t *lm, *nt;
	size_t lm_len, nt_len;
	uint32_t flags;
};

/*
 * Read an AUTHENTICATE.  negotiated are the flags of the CHALLENGE sent
 * (they decide Unicode vs OEM names when the message carries no flags of
 * its own).  False when the bytes are not one, or on out-of-memory.
 */
bool ntlm_parse_authenticate(const uint8_t *m, size_t n, uint32_t negotiated,
                             struct ntlm_auth *a);
void ntlm_auth_free(struct ntlm_auth *a);

/*
 * The response in hashcat's format, to crack offline with the challenge
 * we sent: NetNTLMv1 (mode 5500, a 24-byte NT response)
 *   user::domain:lm:nt:challenge
 * or NetNTLMv2 (mode 5600, longer responses)
 *   user::domain:challenge:ntproofstr:blob
 * in lower-case hex.  NULL for an anonymous logon (no NT response), a
 * malformed one, or out-of-memory.  malloc'd.
 */
char *ntlm_hashcat(const struct ntlm_auth *a, const uint8_t challenge[8]);

/* The account as Windows writes it: DOMAIN\user, or user alone when no
 * domain was given.  malloc'd; NULL on out-of-memory. */
char *ntlm_account(const struct ntlm_auth *a);

#endif

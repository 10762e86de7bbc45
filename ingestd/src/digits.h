/*
 * digits.h: the value of one hex or base64 digit, shared by the parsers
 * that decode them (AUTH's base64, IMAP's modified UTF-7, %XX escapes in
 * IMAP URLs, UUID text).
 */
#ifndef INGESTD_DIGITS_H
#define INGESTD_DIGITS_H

/* 0-15, or -1 when c is not a hex digit. */
static inline int
digit_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * 0-63, or -1 when c is not a base64 digit.  The 63rd digit is '/' in
 * RFC 4648 base64 and ',' in IMAP's modified base64 (RFC 3501 5.1.3).
 */
static inline int
digit_b64(int c, int digit63)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == digit63)
		return 63;
	return -1;
}

#endif

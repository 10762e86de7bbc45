-- What the password columns hold for NTLM (the exchange persona offers it,
-- as Exchange does).  An NTLM client proves it knows the password without
-- sending it: ingestd keeps the account as DOMAIN\user and, in place of the
-- password, the client's answer to our challenge in the line hashcat reads
-- (NetNTLMv2, mode 5600: user::domain:challenge:ntproofstr:blob; NetNTLMv1,
-- mode 5500: user::domain:lm:nt:challenge).  A weak password is recovered
-- from it offline; NULL for an anonymous logon.
COMMENT ON COLUMN spamlab.smtp_auth.password IS
	'the password offered (PLAIN, LOGIN); for NTLM the challenge-response '
	'as a hashcat NetNTLMv1/v2 line';
COMMENT ON COLUMN spamlab.message_auth.password IS
	'the password of the AUTH the message was sent after (PLAIN, LOGIN); '
	'for NTLM the challenge-response as a hashcat NetNTLMv1/v2 line';
COMMENT ON COLUMN spamlab.smtp_auth.username IS
	'the account offered; DOMAIN\user for NTLM (user alone without domain)';

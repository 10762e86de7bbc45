/*
 * persona.c: the MTA personas as data, and their template expansion.
 *
 * Texts are from each MTA's documentation and default configuration
 * (Postfix smtpd(8) and postconf(5) defaults on Debian; Exim 4.96's
 * specification, "The default configuration file"; sendmail 8.17's
 * cf/README and op.me; Exchange Server 2019 receive connector defaults).
 */
#include "persona.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

/*
 * Postfix: the default.  Replies are smtpd(8)'s; the banner is the
 * configured text (smtpd_banner).
 */
static const struct persona postfix = {
    .name = "postfix",
    .ehlo_keywords = {"PIPELINING", "SIZE %s", "VRFY", "ETRN", "STARTTLS",
                      "AUTH", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN",
                      "SMTPUTF8", "CHUNKING", NULL},
    .auth = {"AUTH PLAIN LOGIN\nAUTH=PLAIN LOGIN",
             "AUTH PLAIN LOGIN\nAUTH=PLAIN LOGIN"},
    .reply =
        {
            [PERSONA_BANNER] = "220 %h %b",
            [PERSONA_HELO] = "250 %h",
            [PERSONA_EHLO_GREETING] = "%h",
            [PERSONA_MAIL_OK] = "250 2.1.0 Ok",
            [PERSONA_RCPT_OK] = "250 2.1.5 Ok",
            [PERSONA_DATA] = "354 End data with <CR><LF>.<CR><LF>",
            [PERSONA_QUEUED] = "250 2.0.0 Ok: queued as %q",
            [PERSONA_RSET] = "250 2.0.0 Ok",
            [PERSONA_NOOP] = "250 2.0.0 Ok",
            [PERSONA_QUIT] = "221 2.0.0 Bye",
            [PERSONA_VRFY] = "252 2.0.0 %a",
            [PERSONA_EXPN] = "502 5.5.2 Error: command not recognized",
            [PERSONA_HELP] = "502 5.5.2 Error: command not recognized",
            [PERSONA_UNKNOWN] = "502 5.5.2 Error: command not recognized",
            [PERSONA_NEED_MAIL] = "503 5.5.1 Error: need MAIL command",
            [PERSONA_NEED_RCPT] = "503 5.5.1 Error: need RCPT command",
            [PERSONA_TOO_BIG] = "552 5.3.4 Message size exceeds fixed limit",
            [PERSONA_STARTTLS] = "220 2.0.0 Ready to start TLS",
            [PERSONA_RECEIVED] = "Received: %o%t\n"
                                 "\tby %h (Postfix) with %p id %q%F; %e (UTC)",
            [PERSONA_SYNTAX_HELO] = "501 Syntax: %a hostname",
            [PERSONA_SYNTAX_MAIL] = "501 5.5.4 Syntax: MAIL FROM:<address>",
            [PERSONA_SYNTAX_RCPT] = "501 5.5.4 Syntax: RCPT TO:<address>",
            [PERSONA_SYNTAX] = "501 5.5.4 Syntax: %a",
            [PERSONA_PARAM_SYNTAX] = "501 5.5.4 Bad %a parameter syntax",
            [PERSONA_PARAM_UNKNOWN] = "555 5.5.4 Unsupported option: %a",
            [PERSONA_NEED_HELO] = "503 5.5.1 Error: send HELO/EHLO first",
            [PERSONA_NESTED_MAIL] = "503 5.5.1 Error: nested MAIL command",
            [PERSONA_NO_VALID_RCPT] = "554 5.5.1 Error: no valid recipients",
            [PERSONA_BAD_SEQUENCE] =
                "503 5.5.1 Error: bad sequence of commands",
            [PERSONA_LINE_TOO_LONG] = "500 5.5.2 Error: line too long",
            [PERSONA_TOO_MANY_RCPT] = "452 4.5.3 Error: too many recipients",
            [PERSONA_NOT_IMPLEMENTED] = "502 5.5.1 Error: command not "
                                        "implemented",
            [PERSONA_NO_STORAGE] = "452 4.3.1 Error: insufficient system "
                                   "storage",
            [PERSONA_QUEUE_ERROR] = "451 4.3.0 Error: queue file write error",
            [PERSONA_TOO_MANY_ERRORS] = "421 4.7.0 %h Error: too many errors",
            [PERSONA_TIMEOUT] = "421 4.4.2 %h Error: timeout exceeded",
            [PERSONA_SHUTDOWN] = "421 4.3.2 %h Service shutting down",
            [PERSONA_TOO_MANY_CONNECTIONS] = "421 4.7.0 %h Error: too many "
                                             "connections",
            [PERSONA_TOO_MANY_FROM_IP] = "421 4.7.0 %h Error: too many "
                                         "connections from %i",
            [PERSONA_TLS_ACTIVE] = "554 5.5.1 Error: TLS already active",
            [PERSONA_TLS_UNAVAILABLE] = "454 4.7.0 TLS not available due to "
                                        "local problem",
            [PERSONA_AUTH_DISABLED] = "503 5.5.1 Error: authentication not "
                                      "enabled",
            [PERSONA_AUTH_ALREADY] = "503 5.5.1 Error: already authenticated",
            [PERSONA_AUTH_IN_MAIL] = "503 5.5.1 Error: MAIL transaction in "
                                     "progress",
            [PERSONA_AUTH_PROMPT] = "334 ",
            [PERSONA_AUTH_USER] = "334 VXNlcm5hbWU6",
            [PERSONA_AUTH_PASS] = "334 UGFzc3dvcmQ6",
            [PERSONA_AUTH_OK] = "235 2.7.0 Authentication successful",
            [PERSONA_AUTH_BAD_MECH] = "535 5.7.8 Error: authentication failed: "
                                      "Invalid authentication mechanism",
            [PERSONA_AUTH_DECODE] = "501 5.5.2 Cannot decode response",
            [PERSONA_AUTH_ABORTED] = "501 5.7.0 Authentication aborted",
            [PERSONA_AUTH_NTLM] = "334 NTLM supported",
            [PERSONA_AUTH_FAILED] = "535 5.7.8 Error: authentication failed: "
                                    "generic failure",
            [PERSONA_BDAT_OK] = "250 2.0.0 Ok: %a octets",
        },
    .received_for = "\n\tfor <%r>",
    /* smtpd's "from HELO (NAME [ADDR])": NAME is the verified client name,
     * "unknown" when the name does not resolve back to the address (its
     * log then says "connect from unknown[ADDR]") */
    .received_from = {"from %c (unknown [%i])", "from %c (unknown [%i])",
                      "from %c (%N [%i])", "from %c (%N [%i])"},
    .received_tls = "\n\t(using %v with cipher %C (%B/%B bits))\n"
                    "\t(No client certificate requested)",
    .qid = PERSONA_QID_POSTFIX,
    .delay_ms = {[PERSONA_DELAY_BANNER] = {5, 60},
                 [PERSONA_DELAY_REPLY] = {0, 3},
                 [PERSONA_DELAY_QUEUED] = {5, 30}},
};

/* Exim 4.96, Debian default configuration plus the usual PLAIN/LOGIN
 * authenticators (as cPanel and most hosting installations have). */
static const struct persona exim = {
    .name = "exim",
    .ehlo_keywords = {"SIZE %s", "8BITMIME", "PIPELINING", "AUTH", "CHUNKING",
                      "STARTTLS", "PRDR", "HELP", NULL},
    .auth = {"AUTH PLAIN LOGIN", "AUTH PLAIN LOGIN"},
    .reply =
        {
            [PERSONA_BANNER] = "220 %h ESMTP Exim 4.96 %D",
            [PERSONA_HELO] = "250 %h Hello %c [%i]",
            [PERSONA_EHLO_GREETING] = "%h Hello %c [%i]",
            [PERSONA_MAIL_OK] = "250 OK",
            [PERSONA_RCPT_OK] = "250 Accepted",
            [PERSONA_DATA] = "354 Enter message, ending with \".\" on a line "
                             "by itself",
            [PERSONA_QUEUED] = "250 OK id=%q",
            [PERSONA_RSET] = "250 Reset OK",
            [PERSONA_NOOP] = "250 OK",
            [PERSONA_QUIT] = "221 %h closing connection",
            [PERSONA_VRFY] = "252 Administrative prohibition",
            [PERSONA_EXPN] = "550 Administrative prohibition",
            [PERSONA_HELP] = "214-Commands supported:\n"
                             "214 AUTH STARTTLS HELO EHLO MAIL RCPT DATA BDAT "
                             "NOOP QUIT RSET HELP",
            [PERSONA_UNKNOWN] = "500 unrecognized command",
            [PERSONA_NEED_MAIL] = "503 sender not yet given",
            [PERSONA_NEED_RCPT] = "503 valid RCPT command must precede DATA",
            [PERSONA_TOO_BIG] = "552 Message size exceeds maximum permitted",
            [PERSONA_STARTTLS] = "220 TLS go ahead",
            [PERSONA_RECEIVED] = "Received: %o\n"
                                 "\tby %h with %P %t(Exim 4.96)\n"
                                 "\t(envelope-from <%f>)\n"
                                 "\tid %q%F; %D",
            [PERSONA_SYNTAX_HELO] = "501 Syntactically invalid %a argument(s)",
            [PERSONA_SYNTAX_MAIL] = "501 MAIL must have an address operand",
            [PERSONA_SYNTAX_RCPT] = "501 RCPT must have an address operand",
            [PERSONA_SYNTAX] = "501 Syntax error in parameters or arguments",
            [PERSONA_PARAM_SYNTAX] = "501 invalid data for %a",
            [PERSONA_PARAM_UNKNOWN] = "555 Unsupported parameter",
            [PERSONA_NEED_HELO] = "503 HELO or EHLO required",
            [PERSONA_NESTED_MAIL] = "503 sender already given",
            [PERSONA_NO_VALID_RCPT] = "503 valid RCPT command must precede "
                                      "DATA",
            [PERSONA_BAD_SEQUENCE] = "503 Bad sequence of commands",
            [PERSONA_LINE_TOO_LONG] = "500 Command too long",
            [PERSONA_TOO_MANY_RCPT] = "452 too many recipients",
            [PERSONA_NOT_IMPLEMENTED] = "503 %a command used when not "
                                        "advertised",
            [PERSONA_NO_STORAGE] = "452 Space shortage, please try later",
            [PERSONA_QUEUE_ERROR] = "451 Temporary local problem - please try "
                                    "later",
            /* Exim closes after this line, with the last error's code */
            [PERSONA_TOO_MANY_ERRORS] = "500 Too many syntax or protocol "
                                        "errors",
            [PERSONA_TIMEOUT] = "421 %h: SMTP command timeout - closing "
                                "connection",
            [PERSONA_SHUTDOWN] = "421 %h: Service not available - closing "
                                 "connection",
            [PERSONA_TOO_MANY_CONNECTIONS] = "421 Too many concurrent SMTP "
                                             "connections; please try again "
                                             "later.",
            [PERSONA_TOO_MANY_FROM_IP] = "421 Too many concurrent SMTP "
                                         "connections from this IP address; "
                                         "please try again later.",
            [PERSONA_TLS_ACTIVE] = "554 Already in TLS",
            [PERSONA_TLS_UNAVAILABLE] = "454 TLS currently unavailable",
            [PERSONA_AUTH_DISABLED] = "503 AUTH command used when not "
                                      "advertised",
            [PERSONA_AUTH_ALREADY] = "503 already authenticated",
            [PERSONA_AUTH_IN_MAIL] = "503 sender already given",
            [PERSONA_AUTH_PROMPT] = "334 ",
            [PERSONA_AUTH_USER] = "334 VXNlcm5hbWU6",
            [PERSONA_AUTH_PASS] = "334 UGFzc3dvcmQ6",
            [PERSONA_AUTH_OK] = "235 Authentication succeeded",
            [PERSONA_AUTH_BAD_MECH] = "504 %a authentication mechanism not "
                                      "supported",
            [PERSONA_AUTH_DECODE] = "501 Invalid base64 data",
            [PERSONA_AUTH_ABORTED] = "501 Authentication cancelled",
            [PERSONA_AUTH_NTLM] = "334 NTLM supported",
            [PERSONA_AUTH_FAILED] = "535 Incorrect authentication data",
            [PERSONA_BDAT_OK] = "250 %a byte chunk received",
        },
    .received_for = "\n\tfor %r",
    /* the default received_header_text starts "from $sender_rcvhost":
     * the verified host name then "([ADDR] helo=HELO)", or without one
     * "[ADDR] (helo=HELO)"; helo= only when the HELO is not the verified
     * name.  Exim adds ":port" with port logging: not imitated */
    .received_from = {"from [%i] (helo=%c)", "from [%i] (helo=%c)",
                      "from %N ([%i] helo=%c)", "from %N ([%i])"},
    .received_tls = " (%V) tls %C\n\t",
    .qid = PERSONA_QID_EXIM,
    .delay_ms = {[PERSONA_DELAY_BANNER] = {10, 80},
                 [PERSONA_DELAY_REPLY] = {0, 3},
                 [PERSONA_DELAY_QUEUED] = {10, 50}},
};

/* sendmail 8.17.1.9 from the cf/README defaults, AUTH LOGIN PLAIN
 * (confAUTH_MECHANISMS of a typical submission setup). */
static const struct persona sendmail = {
    .name = "sendmail",
    .ehlo_keywords = {"ENHANCEDSTATUSCODES", "PIPELINING", "EXPN", "VERB",
                      "8BITMIME", "SIZE", "DSN", "ETRN", "AUTH", "STARTTLS",
                      "DELIVERBY", "HELP", NULL},
    .auth = {"AUTH LOGIN PLAIN", "AUTH LOGIN PLAIN"},
    .reply =
        {
            [PERSONA_BANNER] = "220 %h ESMTP Sendmail 8.17.1.9/8.17.1.9; %d",
            [PERSONA_HELO] = "250 %h Hello %c [%i], pleased to meet you",
            [PERSONA_EHLO_GREETING] = "%h Hello %c [%i], pleased to meet you",
            [PERSONA_MAIL_OK] = "250 2.1.0 <%a>... Sender ok",
            [PERSONA_RCPT_OK] = "250 2.1.5 <%a>... Recipient ok",
            [PERSONA_DATA] = "354 Enter mail, end with \".\" on a line by "
                             "itself",
            [PERSONA_QUEUED] = "250 2.0.0 %q Message accepted for delivery",
            [PERSONA_RSET] = "250 2.0.0 Reset state",
            [PERSONA_NOOP] = "250 2.0.0 OK",
            [PERSONA_QUIT] = "221 2.0.0 %h closing connection",
            [PERSONA_VRFY] = "252 2.5.2 Cannot VRFY user; try RCPT to attempt "
                             "delivery (or try finger)",
            [PERSONA_EXPN] = "502 5.7.0 Sorry, we do not allow this operation",
            [PERSONA_HELP] =
                "214-2.0.0 This is sendmail version 8.17.1.9\n"
                "214-2.0.0 Topics:\n"
                "214-2.0.0 \tHELO\tEHLO\tMAIL\tRCPT\tDATA\n"
                "214-2.0.0 \tRSET\tNOOP\tQUIT\tHELP\tVRFY\n"
                "214-2.0.0 \tEXPN\tVERB\tETRN\tDSN\tAUTH\n"
                "214-2.0.0 \tSTARTTLS\n"
                "214-2.0.0 For more info use \"HELP <topic>\".\n"
                "214-2.0.0 To report bugs in the implementation see\n"
                "214-2.0.0 \thttp://www.sendmail.org/email-addresses.html\n"
                "214-2.0.0 For local information send email to Postmaster at "
                "your site.\n"
                "214 2.0.0 End of HELP info",
            [PERSONA_UNKNOWN] = "500 5.5.1 Command unrecognized: \"%a\"",
            [PERSONA_NEED_MAIL] = "503 5.0.0 Need MAIL before RCPT",
            [PERSONA_NEED_RCPT] = "503 5.0.0 Need RCPT (recipient)",
            [PERSONA_TOO_BIG] = "552 5.2.3 Message size exceeds maximum value",
            [PERSONA_STARTTLS] = "220 2.0.0 Ready to start TLS",
            [PERSONA_RECEIVED] =
                "Received: %o\n"
                "\tby %h (8.17.1.9/8.17.1.9) with %p id %q%t%F; %d",
            [PERSONA_SYNTAX_HELO] = "501 5.0.0 %a requires domain address",
            [PERSONA_SYNTAX_MAIL] = "501 5.5.2 Syntax error in parameters "
                                    "scanning \"from\"",
            [PERSONA_SYNTAX_RCPT] = "501 5.5.2 Syntax error in parameters "
                                    "scanning \"to\"",
            [PERSONA_SYNTAX] = "501 5.5.2 Syntax error in parameters",
            [PERSONA_PARAM_SYNTAX] = "501 5.5.4 Syntax error in %a parameter",
            [PERSONA_PARAM_UNKNOWN] = "555 5.5.4 %a parameter unrecognized",
            [PERSONA_NEED_HELO] = "503 5.0.0 Polite people say HELO first",
            [PERSONA_NESTED_MAIL] = "503 5.5.0 Sender already specified",
            [PERSONA_NO_VALID_RCPT] = "503 5.0.0 Need RCPT (recipient)",
            [PERSONA_BAD_SEQUENCE] = "503 5.5.0 Bad sequence of commands",
            [PERSONA_LINE_TOO_LONG] = "500 5.5.0 Command line too long",
            [PERSONA_TOO_MANY_RCPT] = "452 4.5.3 Too many recipients",
            [PERSONA_NOT_IMPLEMENTED] = "500 5.5.1 Command unrecognized: "
                                        "\"%a\"",
            [PERSONA_NO_STORAGE] = "452 4.4.5 Insufficient disk space; try "
                                   "again later",
            [PERSONA_QUEUE_ERROR] = "451 4.3.0 Temporary system failure. "
                                    "Please try again later.",
            [PERSONA_TOO_MANY_ERRORS] = "421 4.7.0 %h Too many bad commands; "
                                        "closing connection",
            [PERSONA_TIMEOUT] = "421 4.4.1 %h timeout waiting for input from "
                                "[%i] during server cmd read",
            [PERSONA_SHUTDOWN] = "421 4.3.0 %h Sendmail is shutting down",
            [PERSONA_TOO_MANY_CONNECTIONS] = "421 4.3.2 Too many open "
                                             "connections.",
            [PERSONA_TOO_MANY_FROM_IP] = "421 4.7.1 Too many open "
                                         "connections.",
            [PERSONA_TLS_ACTIVE] = "503 5.5.0 TLS already active",
            [PERSONA_TLS_UNAVAILABLE] = "454 4.3.3 TLS not available: error "
                                        "generating SSL handle",
            [PERSONA_AUTH_DISABLED] = "503 5.3.3 AUTH not available",
            [PERSONA_AUTH_ALREADY] = "503 5.5.0 Already Authenticated",
            [PERSONA_AUTH_IN_MAIL] = "503 5.5.0 AUTH not permitted during a "
                                     "mail transaction",
            [PERSONA_AUTH_PROMPT] = "334 ",
            [PERSONA_AUTH_USER] = "334 VXNlcm5hbWU6",
            [PERSONA_AUTH_PASS] = "334 UGFzc3dvcmQ6",
            [PERSONA_AUTH_OK] = "235 2.0.0 OK Authenticated",
            [PERSONA_AUTH_BAD_MECH] = "504 5.3.3 AUTH mechanism %a not "
                                      "available",
            [PERSONA_AUTH_DECODE] = "501 5.5.4 cannot BASE64 decode",
            [PERSONA_AUTH_ABORTED] = "501 5.0.0 AUTH aborted",
            [PERSONA_AUTH_NTLM] = "334 NTLM supported",
            [PERSONA_AUTH_FAILED] = "535 5.7.0 authentication failed",
            [PERSONA_BDAT_OK] = "250 2.0.0 %a bytes received",
        },
    .received_for = "\n\tfor <%r>",
    /* "from $s ($_)": $_ is the client's name and [address] (no ident
     * lookup by default), with "(may be forged)" when the name does not
     * resolve back to the address.  The forged form is written from
     * sendmail's documented behaviour, not from a captured header */
    .received_from = {"from %c ([%i])", "from %c (%N [%i] (may be forged))",
                      "from %c (%N [%i])", "from %c (%N [%i])"},
    .received_tls = "\n\t(version=%v cipher=%C bits=%B verify=NOT)",
    .qid = PERSONA_QID_SENDMAIL,
    .delay_ms = {[PERSONA_DELAY_BANNER] = {20, 150},
                 [PERSONA_DELAY_REPLY] = {0, 5},
                 [PERSONA_DELAY_QUEUED] = {10, 60}},
};

/* Exchange Server 2019, "Default Frontend" receive connector: integrated
 * authentication (GSSAPI, NTLM) always, basic (LOGIN) only inside TLS. */
static const struct persona exchange = {
    .name = "exchange",
    .ehlo_keywords = {"SIZE %s", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES",
                      "STARTTLS", "X-ANONYMOUSTLS", "AUTH",
                      "X-EXPS GSSAPI NTLM", "8BITMIME", "BINARYMIME",
                      "CHUNKING", "SMTPUTF8", "XRDST", NULL},
    .auth = {"AUTH GSSAPI NTLM", "AUTH GSSAPI NTLM LOGIN"},
    .reply =
        {
            [PERSONA_BANNER] =
                "220 %h Microsoft ESMTP MAIL Service ready at %d",
            [PERSONA_HELO] = "250 %h Hello [%i]",
            [PERSONA_EHLO_GREETING] = "%h Hello [%i]",
            [PERSONA_MAIL_OK] = "250 2.1.0 Sender OK",
            [PERSONA_RCPT_OK] = "250 2.1.5 Recipient OK",
            [PERSONA_DATA] = "354 Start mail input; end with <CRLF>.<CRLF>",
            [PERSONA_QUEUED] = "250 2.6.0 <%m> [InternalId=%q, Hostname=%h] "
                               "Queued mail for delivery",
            [PERSONA_RSET] = "250 2.0.0 Resetting",
            [PERSONA_NOOP] = "250 2.0.0 OK",
            [PERSONA_QUIT] = "221 2.0.0 Service closing transmission channel",
            [PERSONA_VRFY] = "252 2.1.5 Cannot VRFY user",
            [PERSONA_EXPN] = "502 5.3.3 Command not implemented",
            [PERSONA_HELP] =
                "214-This server supports the following commands:\n"
                "214 HELO EHLO STARTTLS RCPT DATA RSET MAIL QUIT "
                "HELP AUTH BDAT",
            [PERSONA_UNKNOWN] = "500 5.3.3 Unrecognized command '%a'",
            [PERSONA_NEED_MAIL] = "503 5.5.2 Need mail command",
            [PERSONA_NEED_RCPT] = "503 5.5.2 Need rcpt command",
            [PERSONA_TOO_BIG] = "552 5.3.4 Message size exceeds fixed maximum "
                                "message size",
            [PERSONA_STARTTLS] = "220 2.0.0 SMTP server ready",
            [PERSONA_RECEIVED] = "Received: %o by %h\n"
                                 " (%L) with Microsoft SMTP Server%t\n"
                                 " id 15.2.1258.28 via Frontend Transport; %d",
            [PERSONA_SYNTAX_HELO] = "501 5.5.4 Invalid domain name",
            [PERSONA_SYNTAX_MAIL] = "501 5.1.7 Invalid address",
            [PERSONA_SYNTAX_RCPT] = "501 5.1.3 Invalid address",
            [PERSONA_SYNTAX] = "501 5.5.4 Invalid arguments",
            [PERSONA_PARAM_SYNTAX] = "501 5.5.4 Invalid arguments",
            [PERSONA_PARAM_UNKNOWN] = "501 5.5.4 Unrecognized parameter %a",
            [PERSONA_NEED_HELO] = "503 5.5.2 Send hello first",
            [PERSONA_NESTED_MAIL] = "503 5.5.2 Sender already specified",
            [PERSONA_NO_VALID_RCPT] = "503 5.5.2 Need rcpt command",
            [PERSONA_BAD_SEQUENCE] = "503 5.5.2 Bad sequence of commands",
            [PERSONA_LINE_TOO_LONG] = "500 5.5.2 Line too long",
            [PERSONA_TOO_MANY_RCPT] = "452 4.5.3 Too many recipients",
            [PERSONA_NOT_IMPLEMENTED] = "500 5.3.3 Unrecognized command '%a'",
            [PERSONA_NO_STORAGE] = "452 4.3.1 Insufficient system resources",
            [PERSONA_QUEUE_ERROR] = "451 4.7.0 Temporary server error. Please "
                                    "try again later",
            [PERSONA_TOO_MANY_ERRORS] = "421 4.7.0 Too many errors on this "
                                        "connection, closing transmission "
                                        "channel",
            [PERSONA_TIMEOUT] = "421 4.4.1 Connection timed out",
            [PERSONA_SHUTDOWN] = "421 4.3.2 Service not available, closing "
                                 "transmission channel",
            [PERSONA_TOO_MANY_CONNECTIONS] =
                "421 4.3.2 The maximum number of concurrent server connections "
                "has exceeded a limit, closing transmission channel",
            [PERSONA_TOO_MANY_FROM_IP] =
                "421 4.3.2 The maximum number of concurrent connections has "
                "exceeded a limit, closing transmission channel",
            [PERSONA_TLS_ACTIVE] = "503 5.5.2 Bad sequence of commands",
            [PERSONA_TLS_UNAVAILABLE] = "454 4.7.0 Unable to initialize "
                                        "security subsystem",
            [PERSONA_AUTH_DISABLED] = "504 5.7.4 Unrecognized authentication "
                                      "type",
            [PERSONA_AUTH_ALREADY] = "503 5.5.2 Already authenticated",
            [PERSONA_AUTH_IN_MAIL] = "503 5.5.2 Sender already specified",
            [PERSONA_AUTH_PROMPT] = "334 ",
            [PERSONA_AUTH_USER] = "334 VXNlcm5hbWU6",
            [PERSONA_AUTH_PASS] = "334 UGFzc3dvcmQ6",
            [PERSONA_AUTH_OK] = "235 2.7.0 Authentication successful",
            [PERSONA_AUTH_BAD_MECH] = "504 5.7.4 Unrecognized authentication "
                                      "type",
            [PERSONA_AUTH_DECODE] = "501 5.5.2 Cannot Base64-decode Client "
                                    "responses",
            [PERSONA_AUTH_ABORTED] = "501 5.7.0 Authentication aborted",
            [PERSONA_AUTH_NTLM] = "334 NTLM supported",
            [PERSONA_AUTH_FAILED] = "535 5.7.3 Authentication unsuccessful",
            [PERSONA_BDAT_OK] = "250 2.6.0 CHUNK received OK, %a octets",
        },
    .received_for = "",
    /* Exchange names the client by its HELO and address only */
    .received_from = {"from %c (%i)", "from %c (%i)", "from %c (%i)",
                      "from %c (%i)"},
    .received_tls = " (version=%W,\n cipher=%C)",
    .qid = PERSONA_QID_EXCHANGE,
    .delay_ms = {[PERSONA_DELAY_BANNER] = {50, 300},
                 [PERSONA_DELAY_REPLY] = {1, 10},
                 [PERSONA_DELAY_QUEUED] = {20, 120}},
};

const struct persona *const persona_all[] = {&postfix, &exim, &sendmail,
                                             &exchange, NULL};

bool
persona_offers_auth(const struct persona *p, bool tls, const char *mech,
                    size_t len)
{
	const char *line = p->auth[tls ? 1 : 0], *w;

	if (!line || !len)
		return false;
	/* the first line, "AUTH m1 m2 ...": match whole words after AUTH */
	for (w = line; *w && *w != '\n';)
	{
		size_t n = strcspn(w, " \n");

		if (w != line && n == len && strncasecmp(w, mech, len) == 0)
			return true;
		w += n;
		while (*w == ' ')
			w++;
	}
	return false;
}

const struct persona *
persona_find(const char *name)
{
	for (size_t i = 0; persona_all[i]; i++)
		if (strcmp(persona_all[i]->name, name) == 0)
			return persona_all[i];
	return NULL;
}

static void
random_bytes(void *buf, size_t n)
{
	if (getrandom(buf, n, 0) != (ssize_t)n)
		for (size_t i = 0; i < n; i++)
			((unsigned char *)buf)[i] = (unsigned char)rand();
}

static const char b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

void
persona_queue_id(const struct persona *p, time_t now, char *out, size_t outlen)
{
	unsigned char r[16];
	struct tm tm;

	random_bytes(r, sizeof(r));
	gmtime_r(&now, &tm);
	switch (p->qid)
	{
		case PERSONA_QID_POSTFIX:
			snprintf(out, outlen, "%02X%02X%02X%02X%X%X", r[0], r[1], r[2],
			         r[3], r[4] & 15, r[5] & 15);
			break;
		case PERSONA_QID_EXIM:
		{
			/* time in base 62, pid, fraction: 6-6-2 */
			char s[17];
			unsigned long t = (unsigned long)now;

			for (int i = 5; i >= 0; i--, t /= 62)
				s[i] = b62[t % 62];
			s[6] = '-';
			for (int i = 7; i < 13; i++)
				s[i] = b62[r[i] % 62];
			s[13] = '-';
			s[14] = b62[r[14] % 62];
			s[15] = b62[r[15] % 62];
			s[16] = '\0';
			snprintf(out, outlen, "%s", s);
			break;
		}
		case PERSONA_QID_SENDMAIL:
			/* year, month, day, hour, minute, second in base 60, then two
			   sequence characters and a pid */
			snprintf(
			    out, outlen, "%c%c%c%c%c%c%c%c%06u", b62[tm.tm_year % 60],
			    b62[tm.tm_mon], b62[tm.tm_mday], b62[tm.tm_hour],
			    b62[tm.tm_min % 60], b62[tm.tm_sec % 60], b62[r[0] % 60],
			    b62[r[1] % 60],
			    (unsigned)(((unsigned)r[2] << 16 | r[3] << 8 | r[4]) % 900000) +
			        10000);
			break;
		case PERSONA_QID_EXCHANGE:
			snprintf(out, outlen, "%u%08u",
			         (unsigned)(r[0] % 9 + 1) * 1000 + (r[1] % 100) * 10 +
			             r[2] % 10,
			         (unsigned)(((unsigned)r[3] << 24 | r[4] << 16 | r[5] << 8 |
			                     r[6]) %
			                    100000000u));
			break;
	}
}

unsigned
persona_delay_ms(const struct persona *p, enum persona_delay kind, double scale)
{
	const unsigned *d = p->delay_ms[kind];
	unsigned r, ms = d[0];
	double x;

	if (scale <= 0)
		return 0;
	if (d[1] > d[0])
	{
		random_bytes(&r, sizeof(r));
		ms = d[0] + r % (d[1] - d[0] + 1);
	}
	x = ms * scale;
	return x > 10000 ? 10000 : (unsigned)(x + 0.5);
}

bool
persona_delay_parse(const char *s, double *scale)
{
	char *end;
	double v;

	if (strcmp(s, "on") == 0)
	{
		*scale = 1;
		return true;
	}
	if (strcmp(s, "off") == 0)
	{
		*scale = 0;
		return true;
	}
	if (!*s || !(isdigit((unsigned char)*s) || *s == '.'))
		return false;
	v = strtod(s, &end);
	if (*end || !(v >= 0 && v <= 10))
		return false;
	*scale = v;
	return true;
}

/* The TLS version and cipher of v->tls ("TLSv1.3 TLS_AES_..."). */
static void
tls_parts(const struct persona_vars *v, char *ver, size_t verlen, char *ciph,
          size_t ciphlen)
{
	const char *sp = v->tls ? strchr(v->tls, ' ') : NULL;

	snprintf(ver, verlen, "%.*s", sp ? (int)(sp - v->tls) : 0,
	         sp ? v->tls : "");
	snprintf(ciph, ciphlen, "%s", sp ? sp + 1 : "");
}

/* Append s (n bytes) at *o; false when it does not fit. */
static bool
put(char *out, size_t outlen, size_t *o, const char *s, size_t n)
{
	if (*o + n >= outlen)
		return false;
	memcpy(out + *o, s, n);
	*o += n;
	return true;
}

/*
 * Expand template t into out at *o; depth guards the nested templates (%F,
 * %t).  False when it does not fit or the template is bad.
 */
static bool
expand(const struct persona *p, const char *t, const struct persona_vars *v,
       char *out, size_t outlen, size_t *o, int depth)
{
	for (; *t; t++)
	{
		char buf[128], ver[64], ciph[96];
		const char *s = buf;
		struct tm tm;

		if (*t != '%' || t[1] == '\0')
		{
			if (!put(out, outlen, o, t, 1))
				return false;
			continue;
		}
		t++;
		buf[0] = '\0';
		switch (*t)
		{
			case 'h':
				s = v->host;
				break;
			case 'c':
				s = v->client_helo;
				break;
			case 'i':
				s = v->client_ip;
				break;
			case 'a':
				s = v->arg;
				break;
			case 'q':
				s = v->queue_id;
				break;
			case 'f':
				s = v->mail_from;
				break;
			case 'r':
				s = v->rcpt;
				break;
			case 'm':
				s = v->message_id;
				break;
			case 'n':
				persona_queue_id(&exchange, v->now, buf, sizeof(buf));
				break;
			case 'b':
				s = v->banner;
				break;
			case 'L':
				s = v->local_ip;
				break;
			case 'd':
			case 'D':
			case 'e':
				/* %d: "Mon, 2 Mar 2026 ..." (most MTAs); %D: "02" (Exim);
				   %e: " 2" (Postfix) */
				gmtime_r(&v->now, &tm);
				strftime(buf, sizeof(buf),
				         *t == 'D' ? "%a, %d %b %Y %H:%M:%S +0000"
				                   : "%a, %e %b %Y %H:%M:%S +0000",
				         &tm);
				if (*t == 'd' && buf[5] == ' ')
					memmove(buf + 5, buf + 6, strlen(buf + 6) + 1);
				break;
			case 'p':
			case 'P':
				snprintf(buf, sizeof(buf), "%s%s%s",
				         v->esmtp ? "ESMTP" : "SMTP", v->tls ? "S" : "",
				         v->auth ? "A" : "");
				if (*t == 'P')
					for (char *c = buf; *c; c++)
						*c = (char)tolower((unsigned char)*c);
				break;
			case 'N':
				s = v->client_name;
				break;
			case 'F':
			case 't':
			case 'o':
				/* nested: the recipient, TLS and client clauses */
				if (*t == 'o')
					s = p->received_from[(unsigned)v->rdns < PERSONA_RDNS_N
					                         ? v->rdns
					                         : PERSONA_RDNS_NONE];
				else
					s = *t == 'F' ? (v->n_rcpt == 1 ? p->received_for : NULL)
					              : (v->tls ? p->received_tls : NULL);
				if (s && depth == 0 &&
				    !expand(p, s, v, out, outlen, o, depth + 1))
					return false;
				continue;
			case 'v':
			case 'V':
			case 'W':
				/* "TLSv1.3"; Exim "TLS1.3"; Exchange "TLS1_3" */
				tls_parts(v, ver, sizeof(ver), ciph, sizeof(ciph));
				if (*t == 'v' || strncmp(ver, "TLSv", 4) != 0)
					snprintf(buf, sizeof(buf), "%s", ver);
				else
				{
					snprintf(buf, sizeof(buf), "TLS%s", ver + 4);
					if (*t == 'W')
						for (char *c = buf; *c; c++)
							if (*c == '.')
								*c = '_';
				}
				break;
			case 'C':
				tls_parts(v, ver, sizeof(ver), ciph, sizeof(ciph));
				snprintf(buf, sizeof(buf), "%s", ciph);
				break;
			case 'B':
				/* the cipher's key bits, from its name */
				tls_parts(v, ver, sizeof(ver), ciph, sizeof(ciph));
				snprintf(buf, sizeof(buf), "%s",
				         strstr(ciph, "128") ? "128" : "256");
				break;
			case '%':
				s = "%";
				break;
			default:
				return false; /* a bad template: a bug in the table */
		}
		if (s == NULL)
			s = "";
		if (!put(out, outlen, o, s, strlen(s)))
			return false;
	}
	return true;
}

size_t
persona_format(const struct persona *p, enum persona_reply r,
               const struct persona_vars *v, char *out, size_t outlen)
{
	const char *t = (r < PERSONA_N_REPLIES) ? p->reply[r] : NULL;
	size_t o = 0;

	if (t == NULL || outlen == 0 || !expand(p, t, v, out, outlen, &o, 0))
		return 0;
	out[o] = '\0';
	return o;
}

/* Is keyword kw offered under flags? */
static bool
ehlo_offered(const char *kw, unsigned flags)
{
	if (strcmp(kw, "STARTTLS") == 0 || strcmp(kw, "X-ANONYMOUSTLS") == 0)
		return flags & PERSONA_EHLO_STARTTLS;
	if (strcmp(kw, "CHUNKING") == 0 || strcmp(kw, "BINARYMIME") == 0)
		return flags & PERSONA_EHLO_CHUNKING;
	return true;
}

size_t
persona_ehlo(const struct persona *p, const struct persona_vars *v,
             unsigned flags, char *out, size_t outlen)
{
	const char *kw[40];
	size_t n = 0, o = 0, len;
	char line[512], body[400];

	for (size_t i = 0; p->ehlo_keywords[i] && n + 4 < 40; i++)
	{
		const char *k = p->ehlo_keywords[i];

		if (strcmp(k, "AUTH") != 0)
		{
			if (ehlo_offered(k, flags))
				kw[n++] = k;
			continue;
		}
		/* the AUTH line(s); "\n" between lines, at most four */
		k = p->auth[(flags & PERSONA_EHLO_TLS) ? 1 : 0];
		if (!(flags & PERSONA_EHLO_AUTH) || k == NULL)
			continue;
		kw[n++] = k;
		for (const char *nl = strchr(k, '\n'); nl && n + 4 < 40;
		     nl = strchr(nl + 1, '\n'))
			kw[n++] = nl + 1;
	}
	if (persona_format(p, PERSONA_EHLO_GREETING, v, body, sizeof(body)) == 0)
		return 0;
	for (size_t i = 0; i <= n; i++)
	{
		if (i > 0 && strcmp(kw[i - 1], "SIZE %s") == 0)
			snprintf(body, sizeof(body), "SIZE %zu", v->max_size);
		else if (i > 0)
			snprintf(body, sizeof(body), "%.*s", (int)strcspn(kw[i - 1], "\n"),
			         kw[i - 1]);
		len = (size_t)snprintf(line, sizeof(line), "250%c%s\r\n",
		                       i < n ? '-' : ' ', body);
		if (len >= sizeof(line) || !put(out, outlen, &o, line, len))
			return 0;
	}
	out[o] = '\0';
	return o;
}

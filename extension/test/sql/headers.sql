-- headers: header(), headers(), subject(), message_id(), in_reply_to(),
-- reference_ids() over hand-written messages (bytea and text).
\pset null '(null)'
-- folding, RFC 2047 (B and Q, adjacent words joined), case-insensitive names
SELECT spamlab.header(convert_to(E'Subject: =?UTF-8?B?SGVsbG8gV8O2cmxk?=\r\n =?ISO-8859-1?Q?_caf=E9?=\r\nX-Foo:  bar \r\n\r\nbody', 'UTF8'), 'subject') AS subject,
       spamlab.header(E'Subject: a\nx-foo: first\nX-FOO: second\n\nbody', 'X-Foo') AS first_occurrence,
       spamlab.header(E'Subject: a\n\nX-Foo: in body', 'x-foo') AS not_in_body;
-- subject: missing, empty, raw 8-bit Latin-1 becomes UTF-8, NUL bytes
SELECT spamlab.subject(E'From: a@b\n\nSubject: no') AS missing,
       spamlab.subject(E'Subject:\n\nx') AS empty,
       spamlab.subject('\x5375626a6563743a20636166e90a0a78'::bytea) AS latin1,
       spamlab.subject('\x5375626a6563743a20610062630a0a78'::bytea) AS nul_byte,
       spamlab.subject(E'Subject: =?x-unknown?B?SGk=?= there\n\n') AS unknown_charset;
-- an mbox From_ line, spaces before the colon, body without an empty line
SELECT spamlab.subject(E'From sender@example.com Sat Jan  3 01:05:34 1996\nSubject : mbox\n\nbody') AS mbox;
-- headers(): order, names as written, decoded and raw values
SELECT * FROM spamlab.headers(E'Received: from a\n  by b\nSubject: =?utf-8?q?=C3=A9t=C3=A9?=\nX-Empty:\n\nbody: not a header');
SELECT count(*) FROM spamlab.headers(''::bytea);
SELECT count(*) FROM spamlab.headers('\x00ff00fe'::bytea);
-- message ids: brackets removed, broken forms, folding inside References
SELECT spamlab.message_id(E'Message-ID: <abc.123@mail.example.com>\n\n') AS normal,
       spamlab.message_id(E'Message-Id: bare-id@example.com\n\n') AS bare,
       spamlab.message_id(E'Message-ID: (comment) <x@y>\n\n') AS comment,
       spamlab.message_id(E'Message-ID:\n\n') AS empty,
       spamlab.message_id(E'Subject: none\n\n') AS missing;
SELECT spamlab.in_reply_to(E'In-Reply-To: <a@b> <c@d>\n\n') AS irt,
       spamlab.in_reply_to(E'In-Reply-To: Your message of Mon, 1 Jan <m1@x.org>\n\n') AS with_phrase;
SELECT spamlab.reference_ids(E'References: <1@a.example> <2@b.example>\n\t<3@c.\n example>\n\n') AS refs,
       spamlab.reference_ids(E'References: one@x two@y\n\n') AS no_brackets,
       spamlab.reference_ids(E'References:\n\n') AS empty,
       spamlab.reference_ids(E'Subject: x\n\n') AS missing;
-- the same C function serves bytea and text
SELECT spamlab.subject(convert_to(E'Subject: same\n\n', 'UTF8')) = spamlab.subject(E'Subject: same\n\n') AS same;
-- labels: pure, strict, parallel safe
SELECT proname, provolatile, proisstrict, proparallel FROM pg_proc
 WHERE pronamespace = 'spamlab'::regnamespace
   AND proname IN ('header', 'headers', 'subject', 'message_id', 'in_reply_to', 'reference_ids')
 GROUP BY 1, 2, 3, 4 ORDER BY 1;

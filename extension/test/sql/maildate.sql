-- maildate: parse_mail_date() and mail_date(), the lenient date parser.
SET timezone = 'UTC';
\pset null '(null)'

SELECT d, spamlab.parse_mail_date(d) FROM (VALUES
-- RFC 5322
('Tue, 3 Nov 2009 10:00:00 +0100'),
('Tue, 03 Nov 2009 10:00:00 -0500'),
('3 Nov 2009 10:00 +0000'),
('Tue, 3 Nov 2009 10:00:00 +0000 (UTC)'),
('Wed, 30 Sep 2015 23:30:00 +0200 (CEST)'),
('Tue, 3 Nov 2009 10:00:00 -0000'),
-- missing weekday, 2- and 3-digit years, single digits, blanks, case
('3 Nov 09 10:00:00 +0000'),
('Thu, 3 Oct 91 13:04:09 -0700'),
('Tue, 3 Nov 109 10:00:00 +0000'),
('tue,  3  nov  2009  1:2:3  +0000'),
('TUESDAY, 3 NOVEMBER 2009 10:00:00 GMT'),
('3 Sept 2009 10:00:00 +0000'),
-- named zones, missing zone, unknown zone
('Tue, 3 Nov 2009 10:00:00 EST'),
('Tue, 3 Nov 2009 10:00:00 PDT'),
('Tue, 3 Nov 2009 10:00:00 UT'),
('Tue, 3 Nov 2009 10:00:00 CEST'),
('Tue, 3 Nov 2009 10:00:00 JST'),
('Tue, 3 Nov 2009 10:00:00 Z'),
('Tue, 3 Nov 2009 10:00:00'),
('Tue, 3 Nov 2009 10:00:00 XYZ'),
('Tue, 3 Nov 2009 10:00:00 GMT+0200'),
('Tue, 3 Nov 2009 10:00:00 +02:00'),
('Tue, 3 Nov 2009 10:00:00 +02'),
-- ISO 8601, asctime, dots, dashes, slashes
('2009-11-03T10:00:00Z'),
('2009-11-03T10:00:00.123+05:30'),
('2009-11-03 10:00:00 -0800'),
('2009-11-03'),
('Tue Nov  3 10:00:00 2009'),
('Tue Nov 3 10:00:00 PST 2009'),
('03.11.2009 10:00:00'),
('Tue, 3 Nov 2009 10.00.00 +0000'),
('3-Nov-2009 10:00:00 +0000'),
('11/25/2009 10:00 AM'),
('25/11/2009 10:00 PM'),
('Nov 3, 2009, 12:30 am'),
-- leap days, seconds 60
('29 Feb 2008 00:00:00 +0000'),
('31 Dec 2008 23:59:60 +0000'),
-- hopeless: NULL
('29 Feb 2009 00:00:00 +0000'),
('31 Apr 2009 00:00:00 +0000'),
('Tue, 3 Nov 2009 25:00:00 +0000'),
('Tue, 3 Nov 2009 10:61:00 +0000'),
('Tue, 3 Nov 2009 10:00:00 +2500'),
('Tue, 3 Foo 2009 10:00:00 +0000'),
('3 Nov'),
('tomorrow'),
('12345'),
(''),
('1 2 3 4 5 6 7 8 9'),
('Tue, 3 Nov 99999 10:00:00 +0000')) v(d);

-- bounded work: a long input is read only as far as a date can reach
SELECT spamlab.parse_mail_date('3 Nov 2009 ' || repeat('x ', 500000));
SELECT spamlab.parse_mail_date(repeat('9', 1000000));

-- mail_date(raw): the first Date header, folded or not; NULL without one
SELECT spamlab.mail_date(convert_to(E'Subject: x\nDate: Tue, 3 Nov 2009\n 10:00:00 +0100\nDate: Wed, 4 Nov 2009 10:00:00 +0000\n\nbody', 'UTF8'));
SELECT spamlab.mail_date(convert_to(E'Subject: x\n\nDate: Tue, 3 Nov 2009 10:00:00 +0100\n', 'UTF8'));
SELECT spamlab.mail_date(convert_to(E'Date: sometime last week\n\nbody', 'UTF8'));
SELECT spamlab.mail_date(decode('446174653a20547565ff2c2033204e6f7620323030392031303a30303a3030202b303030300a0a', 'hex'));
SELECT spamlab.mail_date('');
SELECT proname, provolatile, proisstrict, proparallel FROM pg_proc
 WHERE pronamespace = 'spamlab'::regnamespace
   AND proname IN ('mail_date', 'parse_mail_date')
 ORDER BY 1;

-- urls: extract_urls() and registrable_domain().
\pset null '(null)'
CREATE FUNCTION pg_temp.u(t text, ct text DEFAULT 'text/plain')
  RETURNS TABLE (url text, raw text, host text, regdom text, source text, anchor text)
  LANGUAGE sql AS $$ SELECT url, raw, host, registrable_domain, source, anchor_text
                     FROM spamlab.extract_urls(t, ct) $$;
-- canonical form: scheme and host lower case, default port dropped, %7E decoded
SELECT * FROM pg_temp.u('Go to HTTP://WWW.Example.COM:80/A%7eB%2f?q=1#frag now');
SELECT * FROM pg_temp.u('https://example.com:443 https://example.com:8443/x ftp://ftp.example.org:21/f');
-- trailing punctuation trimmed, balanced parentheses kept
SELECT * FROM pg_temp.u('(see http://example.com/a), http://en.wikipedia.org/wiki/Foo_(bar). "http://q.example.net/x"!');
-- schemeless www. and bare domains with a real public suffix; not mail addresses or file names
SELECT * FROM pg_temp.u('visit www.shop.example.co.uk/deal or cheap-pills.biz today; mail joe@mail.example.com; open readme.txt; pi is 3.14');
-- defanging
SELECT * FROM pg_temp.u('hxxp://evil[.]example[.]com/x hXXps[:]//bad(.)example(dot)net/ h**p://star.example.org');
-- numeric IPv4 hosts: hex, octal, decimal, short forms; IPv6 literal
SELECT * FROM pg_temp.u('http://0x7f.1/ http://3232235777/ http://0300.0250.1.1:8080/x http://127.1 http://[2001:DB8::1]:80/');
-- IDN to punycode, user info (the host is after the last @)
SELECT * FROM pg_temp.u('https://bücher.example.de/straße http://paypal.com@phish.example.net/login');
-- unparsable URL-like things are rows, with host NULL
SELECT * FROM pg_temp.u('http://bad_host!/x http:// http://256.1.1.1.1/');
-- browsers forgive backslashes and missing slashes
SELECT * FROM pg_temp.u('http:\\evil.example.com\path http:/one.slash.example.com/');
-- mailto
SELECT * FROM pg_temp.u('mailto:Sales@Spam.Example.COM?subject=hi');
-- one row per occurrence
SELECT count(*) FROM pg_temp.u('http://a.example.com/ http://a.example.com/ http://a.example.com/');
-- HTML: attributes by source, entities, anchor text, style and refresh
SELECT * FROM pg_temp.u($$<html><head><meta http-equiv="Refresh" content="0; url=http://refresh.example.com/"><style>body{background:url('http://bg.example.com/i.png')}</style></head>
<body><a href="http://click.example.com/?a=1&amp;b=2">Click <b>here</b></a> <A HREF=www.unquoted.example.net>www.unquoted.example.net</A>
<img src="//cdn.example.org/p.gif"><form action="https://phish.example.com/login"></form>
<a href="#top">top</a> <a href="/relative">rel</a> <div style="background: url(http://style.example.com/s.png)">
&#104;ttp://entity.example.com/ <!-- http://comment.example.com/ --><script>var u="http://script.example.com/";</script></body></html>$$, 'text/html');
-- a message: URLs from List-Unsubscribe (part 0), a QP text part and a base64 HTML part
SELECT url, source, part, anchor_text FROM spamlab.extract_urls(convert_to(E'From: a@b\nList-Unsubscribe: <mailto:unsub@list.example.com>, <http://list.example.com/u?id=1>\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nhttp://qp.example.com/very/long/path/that/is/soft=\nbroken\n--b\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\nPGEgaHJlZj0iaHR0cDovL2I2NC5leGFtcGxlLmNvbS8iPmNsaWNrPC9hPg==\n--b--\n', 'UTF8'));
-- the text overload is chosen for string literals
SELECT count(*) FROM spamlab.extract_urls('http://x.example.com/');
-- registrable_domain
SELECT h, spamlab.registrable_domain(h) FROM (VALUES ('www.Example.CO.UK'), ('example.com.'), ('foo.blogspot.com'),
  ('co.uk'), ('com'), ('192.0.2.1'), ('[::1]'), ('localhost'), ('xn--bcher-kva.example'), ('')) v(h);
-- labels
SELECT proname, provolatile, proisstrict, proparallel FROM pg_proc
 WHERE pronamespace = 'spamlab'::regnamespace
   AND proname IN ('extract_urls', 'registrable_domain')
 GROUP BY 1, 2, 3, 4 ORDER BY 1;

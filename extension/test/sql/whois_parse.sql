-- whois_parse: answers written in each registry's documented layout (our own
-- text, not copies).  Times print in UTC.
SET TimeZone = 'UTC';

-- gTLD thin registry (Verisign style): dates, registrar, registrar's server
SELECT * FROM spamlab.whois_parse(E'   Domain Name: EXAMPLE-SPAM.COM\r\n'
  '   Registry Domain ID: 1234567_DOMAIN_COM-VRSN\r\n'
  '   Registrar WHOIS Server: whois.registrar.example\r\n'
  '   Registrar URL: http://www.registrar.example\r\n'
  '   Updated Date: 2023-08-14T07:01:38Z\r\n'
  '   Creation Date: 1995-08-14T04:00:00Z\r\n'
  '   Registry Expiry Date: 2024-08-13T04:00:00Z\r\n'
  '   Registrar: Registrar Example, LLC\r\n'
  '   Registrar IANA Id: 376\r\n'
  '>>> Last update of whois database: 2024-01-01T10:00:00Z <<<\r\n');

-- gTLD registrar: fractional seconds, and the expiry under its long name
SELECT * FROM spamlab.whois_parse(E'Domain Name: example-spam.net\n'
  'Registrar WHOIS Server: whois.registrar.example\n'
  'Updated Date: 2022-02-02T02:02:02.123456Z\n'
  'Creation Date: 2001-03-04T05:06:07.0Z\n'
  'Registrar Registration Expiration Date: 2030-03-04T05:06:07.0Z\n'
  'Registrar: Registrar Example, LLC\n');

-- time zone offsets (+hh:mm, -hhmm), and no zone at all (read as UTC)
SELECT created, updated, expires FROM spamlab.whois_parse(E'Creation Date: 2010-05-06T07:08:09+02:00\n'
  'Updated Date: 2011-01-01T00:00:00-0500\nExpiration Date: 2012-12-12 12:12:12\n');

-- IANA answer for a TLD: refer: and whois:
SELECT referral_server, created FROM spamlab.whois_parse(E'% IANA WHOIS server\n\n'
  'refer:        whois.nic.example\n\ndomain:       EXAMPLE\n\n'
  'whois:        whois.nic.example\n\nstatus:       ACTIVE\n'
  'created:      1985-01-01\nchanged:      2020-01-01\n');

-- ARIN-style referral URL
SELECT referral_server FROM spamlab.whois_parse(E'NetRange: 192.0.2.0 - 192.0.2.255\n'
  'ReferralServer:  whois://whois.ripe.example:4343/\n');
SELECT referral_server FROM spamlab.whois_parse(E'ReferralServer: rwhois://rwhois.example.net\n');
-- a web address is not a whois server
SELECT referral_server FROM spamlab.whois_parse(E'Registrar WHOIS Server: https://rdap.example/\n');

-- Nominet (.uk): the registrar on the line after "Registrar:", dd-Mon-yyyy
SELECT * FROM spamlab.whois_parse(E'\n    Domain name:\n        spam-example.co.uk\n\n'
  '    Registrar:\n        Example Names Ltd [Tag = EXAMPLE]\n'
  '        URL: https://names.example\n\n'
  '    Relevant dates:\n        Registered on: 11-Dec-1996\n'
  '        Expiry date:  11-Dec-2025\n        Last updated:  10-Nov-2023\n');

-- JPRS (.jp) in Japanese: [key] value, yyyy/mm/dd in Japan time, (JST)
SELECT * FROM spamlab.whois_parse(E'[ JPRS database provides information on network administration. ]\n\n'
  'Domain Information: [ドメイン情報]\n'
  '[Domain Name]                   SPAM-EXAMPLE.JP\n\n'
  '[登録年月日]                    2001/02/03\n'
  '[有効期限]                      2025/02/28\n'
  '[状態]                          Active\n'
  '[最終更新]                      2024/03/01 01:05:08 (JST)\n');

-- JPRS in English (query "name/e"), with the "a. [key]" form of .co.jp
SELECT created, updated FROM spamlab.whois_parse(E'a. [Domain Name]                SPAM-EXAMPLE.CO.JP\n'
  '[Created on]                    2005/06/07\n'
  '[Last Updated]                  2024/01/01 01:02:03 (JST)\n');

-- registro.br (.br): yyyymmdd with a "#n" ticket, contact blocks after
SELECT created, updated, expires FROM spamlab.whois_parse(E'% Copyright (c) Nic.br\n'
  'domain:      spam-example.com.br\nowner:       Example Ltda\n'
  'created:     19990101 #12345\nchanged:     20230405\n'
  'expires:     20250101\nstatus:      published\n\n'
  'nic-hdl-br:  EXA123\nperson:      Someone\ncreated:     20100101\n'
  'changed:     20200101\n');

-- DENIC (.de): no creation date published, Changed: with offset
SELECT * FROM spamlab.whois_parse(E'Domain: spam-example.de\nNserver: ns1.example.net\n'
  'Status: connect\nChanged: 2018-03-12T21:44:25+01:00\n');

-- AFNIC (.fr): RIPE style, the domain object first, then contacts
SELECT * FROM spamlab.whois_parse(E'%%\n%% This is the AFNIC Whois server.\n%%\n\n'
  'domain:      spam-example.fr\nstatus:      ACTIVE\n'
  'registrar:   EXAMPLE REGISTRAR SAS\n'
  'Expiry Date: 2025-03-28T22:00:00Z\n'
  'created:     2000-03-28T22:00:00Z\nlast-update: 2024-02-10T10:00:00Z\n\n'
  'registrar:   OTHER\ncreated:     1999-01-01T00:00:00Z\n');

-- .it: "Registrar" block with Organization:
SELECT * FROM spamlab.whois_parse(E'Domain:             spam-example.it\n'
  'Status:             ok\nCreated:            1996-01-01 00:00:00\n'
  'Last Update:        2024-01-20 00:52:38\nExpire Date:        2025-01-05\n\n'
  'Registrar\n  Organization:     Example Registrar S.r.l.\n'
  '  Name:             EXAMPLE-REG\n');

-- SIDN (.nl), newer layout and older "Registered:"-less one with a block
SELECT created, updated, registrar FROM spamlab.whois_parse(E'Domain name: spam-example.nl\n'
  'Status: active\n\nRegistrar:\n   Example Hosting B.V.\n   Street 1\n\n'
  'Creation Date: 2010-06-07\n\nUpdated Date: 2023-04-05\n');

-- NASK (.pl): yyyy.mm.dd
SELECT created, updated, expires FROM spamlab.whois_parse(E'DOMAIN NAME:           spam-example.pl\n'
  'registrant type:       organization\n'
  'created:               2001.01.02 13:00:00\n'
  'last modified:         2023.12.01 10:11:12\n'
  'renewal date:          2025.01.01 13:00:00\n');

-- TCI (.ru/.su): ISO with Z, paid-till
SELECT created, expires, registrar FROM spamlab.whois_parse(E'domain:        SPAM-EXAMPLE.RU\n'
  'nserver:       ns1.example.ru.\nstate:         REGISTERED, DELEGATED\n'
  'registrar:     EXAMPLE-RU\ncreated:       2004-06-16T20:00:00Z\n'
  'paid-till:     2025-06-16T21:00:00Z\nfree-date:     2025-07-18\n');

-- CNNIC (.cn): Registration Time, Sponsoring Registrar
SELECT * FROM spamlab.whois_parse(E'Domain Name: spam-example.cn\nROID: 20030312s10001s00000000-cn\n'
  'Sponsoring Registrar: Example Network Co., Ltd.\n'
  'Registration Time: 2003-03-17 12:20:05\n'
  'Expiration Time: 2026-03-17 12:48:36\n');

-- auDA (.au): no creation date, Last Modified
SELECT * FROM spamlab.whois_parse(E'Domain Name: spam-example.com.au\n'
  'Last Modified: 2023-05-06T07:08:09Z\nRegistrar Name: Example Pty Ltd\n');

-- KISA (.kr): "key   : value", dates as "yyyy. mm. dd."
SELECT created, updated, expires, registrar FROM spamlab.whois_parse(E'Domain Name                 : spam-example.kr\n'
  'Registered Date             : 2007. 01. 09.\n'
  'Last Updated Date           : 2019. 11. 19.\n'
  'Expiration Date             : 2025. 01. 09.\n'
  'Authorized Agency           : Example Agency, Inc.(http://agency.example)\n');

-- EURid (.eu): no dates, registrar in a block with Name:
SELECT * FROM spamlab.whois_parse(E'Domain: spam-example.eu\n\nRegistrar:\n'
  '        Name: Example Registrar AB\n        Website: https://registrar.example\n');

-- InternetNZ (.nz): underscore keys
SELECT created, updated, expires FROM spamlab.whois_parse(E'domain_name: spam-example.co.nz\n'
  'domain_dateregistered: 2001-02-03T04:05:06+13:00\n'
  'domain_datebilleduntil: 2025-02-03T04:05:06+13:00\n'
  'domain_datelastmodified: 2024-01-01T00:00:00+13:00\n');

-- DNS.PT (.pt): the key carries the date layout in parentheses
SELECT created, expires FROM spamlab.whois_parse(E'Domain: spam-example.pt\n'
  'Creation Date (dd/mm/yyyy): 05/06/2007\nExpiration Date (dd/mm/yyyy): 05/06/2025\n');

-- DNS Belgium (.be): weekday and month names; .kz: "(GMT+0:00)"; .ua: "+02"
SELECT (spamlab.whois_parse(a)).created FROM (VALUES
  (E'Domain: spam-example.be\nStatus: NOT AVAILABLE\nRegistered: Tue Jan 23 2001\n'),
  (E'Domain created: 2004-05-06 07:08:09 (GMT+0:00)\n'),
  (E'created: 2004-12-01 00:00:00+02\n'),
  (E'created: March 10 2000\n')) t(a);

-- other date forms: dd.mm.yyyy, Mon dd yyyy, ctime, dd/mm/yyyy, UTC words
SELECT (spamlab.whois_parse('created: ' || d)).created, d FROM (VALUES
  ('15.03.2000 12:03:00'), ('Jan 05 2020'), ('Jan 5, 2020'),
  ('Fri Apr 28 10:11:12 GMT 2000'), ('31/12/2020'), ('12/31/2020'),
  ('15-aug-1997 12:00:00 UTC'), ('2019-12-31 00:00:00 UTC+8'),
  ('20201023 09:38:52'), ('2020-01-02T03:04:05.999999Z'),
  ('1 January 2019'), ('Tuesday, 01 Jan 2019')) t(d);

-- not dates: NULL, never an error
SELECT (spamlab.whois_parse('created: ' || d)).created IS NULL AS is_null, d FROM (VALUES
  ('2020-02-30'), ('2019-02-29'), ('2020-13-01'), ('0000-00-00 00:00:00'),
  ('2020-01-01abc'), ('yesterday'), (''), ('99999999'), ('2020-01-01T25:00:00'),
  ('2020-01-01T10:00:00+99:00'), ('32.01.2000'), ('Foo 12 2000')) t(d);

-- whois_parse() has no status column; whois() reports "not_found" for
-- answers like these (tests/test_whois.py), here they give all NULLs
SELECT (spamlab.whois_parse(a)).* FROM (VALUES
  (E'Domain: free-example.de\nStatus: free\n'),
  (E'Domain:             free-example.it\nStatus:             AVAILABLE\n'),
  (E'%% NOT FOUND\n'), (E'No match for "FREE-EXAMPLE.COM".\n')) t(a);

-- leap day, and the first date wins over a later one
SELECT created FROM spamlab.whois_parse(E'created: 2020-02-29\ncreated: 2021-01-01\n');

-- garbage and empty answers give all NULLs
SELECT * FROM spamlab.whois_parse('');
SELECT * FROM spamlab.whois_parse(E'\x01\x02:::\n[[[]\n%%%%\n: no key\n');
SELECT * FROM spamlab.whois_parse(repeat('x', 100000));
-- a registrar name longer than 255 bytes is cut, not a multibyte char in half
SELECT length(registrar), octet_length(registrar) <= 255 FROM spamlab.whois_parse('Registrar: ' || repeat('é', 300));
-- NULL in, NULL out
SELECT * FROM spamlab.whois_parse(NULL);

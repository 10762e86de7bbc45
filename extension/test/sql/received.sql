-- received: parse_received(), parse_received_header(), origin_ip().
-- Vectors are written from each MTA's documented Received format; the
-- addresses are public-looking, the names example ones.
SET timezone = 'UTC';
\pset null '(null)'

CREATE TEMP TABLE v (label text, value text);
INSERT INTO v VALUES
-- Postfix: from HELO (RDNS [IP])
('postfix', 'from mail.example.org (mail.example.org [93.184.216.34]) by mx.example.net (Postfix) with ESMTP id 4Nf3Kq1XyzZ for <bob@example.net>; Tue, 3 Nov 2009 10:00:00 +0100 (CET)'),
('postfix unknown rdns', 'from helo.example (unknown [93.184.216.35]) by mx.example.net (Postfix) with SMTP id ABC123; Tue,  3 Nov 2009 10:00:00 +0000 (GMT)'),
('postfix tls auth', 'from [192.168.1.20] (dsl-1.example.com [93.184.216.36]) (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256) (No client certificate requested) (Authenticated sender: alice@example.com) by smtp.example.com (Postfix) with ESMTPSA id 4F2A1B3C4D for <bob@example.org>; Wed, 4 Nov 2009 08:15:30 +0000 (UTC)'),
('postfix ipv6', 'from mail-pf1-x432.google.com (mail-pf1-x432.google.com [IPv6:2607:f8b0:4864:20::432]) by mx.example.net (Postfix) with ESMTPS id EDD4E2073D for <x@example.net>; Tue, 13 Apr 2021 08:39:56 -0700 (PDT)'),
('postfix pickup', 'by mx.example.net (Postfix, from userid 1000) id 3B2C41F8CC; Tue,  3 Nov 2009 10:00:00 +0100 (CET)'),
('postfix reinjection', 'from localhost (localhost [127.0.0.1]) by mx.example.net (Postfix) with ESMTP id 7FD614E5C3 for <b@example.net>; Thu, 21 Dec 2000 13:37:16 +0000 (GMT)'),
('postfix lmtp', 'from mx.example.net by imap.example.net with LMTP id kG4bCq2xYmT for <bob@example.net>; Tue, 3 Nov 2009 10:00:01 +0100'),
('postfix utf8', 'from mail.esempio-università.it (mail.esempio-università.it [IPv6:2001:4860:4860::8888]) by Sörensen.example.com (Postfix) with UTF8SMTPS id 4F2A for <Dörte@Sörensen.example.com>; Mon, 1 Jun 2020 10:00:00 +0200'),
-- Sendmail: from HELO (RDNS [IP] (may be forged)), ident, Submit
('sendmail', 'from helo.example.com (host-34.example.com [93.184.216.37]) by mail.example.org (8.14.4/8.14.4) with ESMTP id nA3A01aB012345 for <u@example.org>; Tue, 3 Nov 2009 10:00:01 GMT'),
('sendmail forged', 'from netsvr.Internet (USR-157-050.dr.cgocable.ca [24.226.157.50] (may be forged)) by webnote.net (8.9.3/8.9.3) with ESMTP id IAA29903 for <jm7@netnoteinc.com>; Sun, 18 Feb 2001 08:28:16 GMT'),
('sendmail ident', 'from mail.example.com (root@mail.example.com [93.184.216.38]) by relay.example.org (8.12.11/8.12.11) with ESMTP id j93N7Svo006972; Mon, 3 Oct 2005 16:07:28 -0700'),
('sendmail IDENT:', 'from trna.example.com (IDENT:nobody@localhost [127.0.0.1]) by trna.example.com (8.9.3/8.9.3) with ESMTP id SAA19408; Tue, 15 May 2001 18:26:07 -0400'),
('sendmail submit', '(from www-data@localhost) by host.example.com (8.15.2/8.15.2/Submit) id 29AKBWwn005317; Mon, 10 Oct 2022 20:11:32 GMT'),
('sendmail authenticated', 'from [10.0.0.5] (dsl.example.net [93.184.216.39]) (authenticated bits=0) by smtp.example.com (8.14.4/8.14.4) with ESMTP id oA1B2C3D; Tue, 3 Nov 2009 10:00:00 -0500'),
('sendmail tls', 'from mx.example.com (mx.example.com [93.184.216.40]) by dmarc1.example.org (8.14.9/8.14.9) with ESMTP id 13DFe22R006047 (version=TLSv1/SSLv3 cipher=AES256-GCM-SHA384 bits=256 verify=NO); Tue, 13 Apr 2021 11:40:02 -0400'),
('sendmail envelope after date', 'from castle.example.org (castle.example.org [210.226.20.15]) by updraft.example.org (8.9.3+3.2W/8.7.3/smtpfeed 1.04) with ESMTP id WAA06847; Sun, 20 Feb 2000 22:07:34 +0900 (JST) (envelope-from owner-list@example.org)'),
-- Exim: from RDNS ([IP]:port helo=HELO), [IP] (helo=HELO), local
('exim helo=', 'from host86.example.com ([86.187.174.57]:45321 helo=User) by mx.example.org with esmtpa (Exim 4.87) (envelope-from <anabel@example.es>) id 1bakrE-000291-LF; Fri, 19 Aug 2016 20:34:52 +0600'),
('exim no rdns', 'from [205.188.139.136] (helo=imo-d20.mx.aol.com) by server11.example.net with esmtp (Exim 4.24) id 1AtWef-0007Y2-44 for user@example.com; Wed, 18 Feb 2004 18:42:41 +0000'),
('exim helo = rdns', 'from mail.example.com ([93.184.216.41]) by mx.example.org with esmtp (Exim 4.92) (envelope-from <a@example.com>) id 1kZabc-0001xY-Rr; Tue, 3 Nov 2009 10:00:00 +0000'),
('exim 4.94 tls', 'from mail-ed1-f54.google.com ([209.85.208.54]:44063) by mx.example.org with esmtps  (TLS1.3) tls TLS_AES_256_GCM_SHA384 (Exim 4.94.2) (envelope-from <x@gmail.com>) id 1kZabc-0001xY-Rr for y@example.org; Wed, 28 Oct 2020 12:00:00 +0000'),
('exim local', 'from daf by green.example.net with local (Exim 3.36 #1 (Debian)) id 192LJf-0005O7-00 for <d@example.com>; Sun, 06 Apr 2003 21:20:55 -0400'),
('exim ident', 'from host.example.com ([93.184.216.42] ident=postfix) by mx.example.org with esmtp (Exim 4.92) id 1kZabc-0001xY-Rs; Tue, 3 Nov 2009 10:00:00 +0000'),
-- qmail: (qmail N invoked ...), from RDNS (HELO HELO) (IP)
('qmail uid', '(qmail 1234 invoked by uid 0); 3 Nov 2009 10:00:00 -0000'),
('qmail network', '(qmail 2160 invoked from network); 24 May 2016 12:30:11 -0000'),
('qmail unknown', 'from unknown (HELO lune.example) (202.214.129.125) by example.net with SMTP; 16 Dec 2002 23:08:43 +0900'),
('qmail rdns helo', 'from c.example.com.br (HELO apus.example.com.br) (189.125.104.100) by smtp.example.net with SMTP; 22 Aug 2016 09:22:13 -0000'),
('qmail ident', 'from mpehp1.example.de (root@130.183.70.10) by o05.example.de with SMTP; 16 Dec 2002 14:31:36 -0000'),
('qmail-scanner', 'from 223.152.177.168 by mail.example.cn (envelope-from <zyb@example.cn>, uid 0) with qmail-scanner-1.24 (clamdscan: 0.88. Clear:RC:0(223.152.177.168):. Processed in 2.04 secs); 26 Dec 2016 05:32:04 -0000'),
-- Microsoft: SMTPSVC, Exchange, Outlook.com, mapi
('smtpsvc', 'from mx14.hotmail.com ([200.83.20.140]) by kr-sel.example.co.kr with Microsoft SMTPSVC(5.0.2195.2966); Sat, 29 Jun 2002 02:36:44 +0900'),
('outlook.com', 'from DM3NAM03FT035.eop-NAM03.prod.protection.outlook.com (2a01:111:f400:7e49::205) by CY4PR0601CA0051.outlook.office365.com (2603:10b6:910:89::28) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384) id 15.20.1185.23 via Frontend Transport; Mon, 1 Oct 2018 09:49:23 +0000'),
('exchange mapi', 'from DM6PR06MB4475.namprd06.prod.outlook.com ([fe80::9d4:8f5d:3e1a:1c2b]) by DM6PR06MB4475.namprd06.prod.outlook.com ([fe80::9d4:8f5d:3e1a:1c2b%5]) with mapi id 15.20.1185.024; Mon, 1 Oct 2018 09:49:22 +0000'),
('exchange internal', 'from apiron13.example.com (200.57.129.98) by HUB11.example.local (172.18.31.175) with Microsoft SMTP Server id 14.3.498.0; Mon, 10 Oct 2022 15:11:35 -0500'),
('outlook https', 'from DM6PR06MB4475.namprd06.prod.outlook.com (2603:10b6:207:3d::31) by BL0PR06MB4465.namprd06.prod.outlook.com with HTTPS id 12345 via BL0PR02CA0054.NAMPRD02.PROD.OUTLOOK.COM; Mon, 1 Oct 2018 09:49:22 +0000'),
-- Google
('gmail mx', 'from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) by mx.google.com with SMTPS id a1sor123456qkb.12.2019.10.01.05.23.45 for <bob@gmail.com> (Google Transport Security); Tue, 01 Oct 2019 05:23:45 -0700 (PDT)'),
('gmail ipv6 by', 'by 2002:a05:6214:1c4:0:0:0:0 with SMTP id c4csp123456qvq; Tue, 1 Oct 2019 05:23:46 -0700 (PDT)'),
('gmail esmtpsa', 'from PC ([2409:4063:231e:c527:1997:664a:34e5:7d88]) by smtp.gmail.com with ESMTPSA id n23sm15339981pgv.76.2021.06.15.02.55.37 for <test@example.org> (version=TLS1 cipher=ECDHE-ECDSA-AES128-SHA bits=128/128); Tue, 15 Jun 2021 02:55:43 -0700 (PDT)'),
('gmail esmtps tls1_3', 'from mail-wm1-f48.google.com (mail-wm1-f48.google.com. [209.85.128.48]) by mx.google.com with ESMTPS id p6si1234567wrm.123.2020.05.01.10.00.00 for <x@example.com> (version=TLS1_3 cipher=TLS_AES_128_GCM_SHA256 bits=128/128); Fri, 01 May 2020 10:00:00 -0700 (PDT)'),
-- Yahoo, Courier, CommuniGate, MDaemon, Domino, Zimbra, IronPort, SES
('yahoo http', 'from [93.184.216.43] by web12345.mail.bf1.yahoo.com via HTTP; Tue, 03 Nov 2009 10:00:00 PST'),
('yahoo nnfmp', 'from [66.196.81.170] by nm1.bullet.mail.ne1.yahoo.com with NNFMP; 03 Nov 2009 10:00:00 -0000'),
('courier', 'from mail.example.com (mail.example.com [::ffff:93.184.216.44]) (AUTH: LOGIN alice, TLS: TLSv1/SSLv3,256bits,AES256-SHA) by courier.example.net with ESMTPSA; Tue, 03 Nov 2009 10:00:00 -0500'),
('communigate', 'from [93.184.216.45] (account alice@example.com HELO laptop) by mail.example.com (CommuniGate Pro SMTP 5.2.3) with ESMTPA id 12345678 for bob@example.org; Tue, 03 Nov 2009 10:00:00 +0300'),
('mdaemon', 'from laptop.example.com by mail.example.com (MDaemon PRO v10.1.2) with ESMTP id md50000123456.msg for <b@example.com>; Tue, 03 Nov 2009 10:00:00 -0500'),
('domino', 'from notes.example.com ([93.184.216.46]) by domino.example.com (Lotus Domino Release 8.5.3FP6) with ESMTP id 2009110310000012-34567 ; Tue, 3 Nov 2009 10:00:00 +0100'),
('zimbra lmtp', 'from zimbra.example.com (LHLO zimbra.example.com) (10.1.2.3) by zimbra.example.com with LMTP; Tue, 3 Nov 2009 10:00:00 -0600 (CST)'),
('ironport', 'from unknown (HELO mail.example.com) ([93.184.216.47]) by esa1.example.iphmx.com with ESMTP; 03 Nov 2009 10:00:00 -0500'),
('amazon ses', 'from mail.example.com (ec2-54-240-8-13.compute-1.amazonaws.com [54.240.8.13]) by email-smtp.amazonaws.com with SMTP (SimpleEmailService-d-ABCDEF123) id abcdEFGH12345678 for bob@example.org; Tue, 03 Nov 2009 10:00:00 +0000 (UTC)'),
('sympa list', 'from sympa.example.org (localhost [127.0.0.1]) by lists.example.org (Postfix) with ESMTP id 4B2C3D; Tue, 3 Nov 2009 10:00:00 +0100 (CET)'),
('fetchmail', 'from pop.example.net [207.115.63.84] by localhost with POP3 (fetchmail-5.9.11) for matt@localhost (single-drop); Wed, 04 Sep 2002 19:25:41 -0700 (PDT)'),
-- older and rarer MTAs
('exim 3 port suffix', 'from relay.example.net (helo.example.net) [93.184.216.60.4321] (mail) by mx.example.org with esmtp (Exim 3.35 #1 (Debian)) id 1CO5y7-0001vC-00; Sun, 31 Oct 2004 04:01:23 +0100'),
('communigate verified', 'from mail.example.ru ([93.184.216.61] verified) by relay.example.ru (CommuniGate Pro SMTP 5.1.13) with ESMTPS id 9837783 for hostmaster@example.ru; Tue, 08 Apr 2008 13:14:35 +0700'),
('tis smap', 'from dsl-61.example.jp(93.184.216.62), claiming to be "helo.example.net" via SMTP by gw.example.at, id smtpd1PBsZT; Sun Nov 13 15:38:52 2005'),
('navgw', '(from LAPTOP [93.184.216.63]) by gw.example.co.uk (NAVGW 2.5.2.12) with SMTP id M2006040415284308595 for <user@example.co.uk>; Tue, 04 Apr 2006 15:28:45 +0100'),
('xmail', 'from list.example.com (93.184.216.64:23198) by mx1.example.net with [XMail 1.20 ESMTP Server] id <S72E> for <rcpt@example.org> from <bounce-1@list.example.com>; Sat, 18 Sep 2004 23:17:54 -0500'),
('encrypted smtp', 'from lists.example.org (HELO parrot.example.org) (93.184.216.65) by mx.example.net with (DHE-RSA-AES256-SHA encrypted) SMTP; 6 Feb 2005 21:11:37 -0000'),
('qmail user@domain@ip', 'from unknown (HELO ?93.184.216.66?) (myuser@example.it@93.184.216.66) by mail.example.it with SMTP; 28 Jan 2013 21:50:51 +0100'),
('old sendmail', 'from helo.example.edu (rdns.example.edu) by mx.example.com (NeXT-1.0 (From Sendmail 5.52)/UW-NDC Revision: 2.22 ) id AA12299; Tue, 8 Oct 91 07:29:39 PDT'),
('amavis', 'from mail.example.com ([127.0.0.1]) by localhost (mail.example.com [127.0.0.1]) (amavisd-new, port 10032) with ESMTP id Zx9k2LmQ for <b@example.com>; Tue, 3 Nov 2009 10:00:00 +0100 (CET)'),
('barracuda', 'from mail.example.com (mail.example.com [93.184.216.67]) by mx1.example.barracuda.com with ESMTP id kP2mQ9sT4uV6wX8y (version=TLSv1.2 cipher=ECDHE-RSA-AES256-GCM-SHA384 bits=256 verify=NO) for <b@example.com>; Tue, 03 Nov 2009 02:00:00 -0800 (PST)'),
('postfix client port', 'from helo.example (rdns.example [93.184.216.68]:54321) by mx.example.net (Postfix) with ESMTP id 4N1; Tue, 3 Nov 2009 10:00:00 +0000'),
('exim ipv6 port', 'from mail.example.org ([2001:4860:4860::8888]:41234 helo=mail.example.org) by mx.example.net with esmtps (TLS1.2) tls TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 (Exim 4.92) (envelope-from <a@example.org>) id 1kZ-0001; Tue, 3 Nov 2009 10:00:00 +0000'),
('tls-named host', 'from tls.example.com (tls.example.com [93.184.216.69]) by mx.example.net (Postfix) with ESMTP id 4N2; Tue, 3 Nov 2009 10:00:00 +0000'),
-- webmail
('squirrelmail', 'from 144.137.3.98 (SquirrelMail authenticated user jmmail) by jmason.example with HTTP; Thu, 6 Dec 2001 09:21:06 -0000 (GMT)'),
('webmail', 'from [93.184.216.48] by webmail.example.com with HTTP; Tue, 3 Nov 2009 10:00:00 +0000'),
-- address forms
('scoped ipv6', 'from host.example ([fe80::1%eth0]) by mx.example with ESMTP; Tue, 3 Nov 2009 10:00:00 +0000'),
('mapped bare', 'from host.example (::ffff:93.184.216.49) by mx.example with SMTP; Tue, 3 Nov 2009 10:00:00 +0000'),
('ip-literal helo', 'from [93.184.216.50] (unknown [93.184.216.51]) by mx.example (Postfix) with ESMTP id X1; Tue, 3 Nov 2009 10:00:00 +0000'),
('ipv6 literal helo', 'from [IPv6:2001:4860:4860::8844] (unknown [IPv6:2001:4860:4860::8844]) by mx.example (Postfix) with ESMTP id X2; Tue, 3 Nov 2009 10:00:00 +0000'),
-- spambot forgeries and broken forms
('empty from', 'from  by 24.3.96.11; Thu, 05 Feb 2004 00:24:38 +0500'),
('ip by ip', 'from 196.170.26.200 by 200.83.104.67; Thu, 02 Dec 2004 10:55:50 -0500'),
('no by', 'from mx.example.com (mx.example.com [91.119.73.19]) for <me@example.com>; Wed, 30 Sep 2015 23:30:00 +0200 (CEST)'),
('empty helo', 'from unknown (HELO ) (185.137.84.106) by smtp.example.net with SMTP; 24 May 2016 12:30:11 -0000'),
('no semicolon', 'from a.example (a.example [93.184.216.52]) by b.example with SMTP id Q1 Tue, 3 Nov 2009 10:00:00 +0000'),
('unbalanced', 'from host (rdns [93.184.216.53] by mx with ESMTP; Tue, 3 Nov 2009 10:00:00 +0000'),
('garbage', 'xyzzy plugh 12 ))(( <<>> ;;; ['),
('only date', '; Tue, 3 Nov 2009 10:00:00 +0000'),
('empty', '');

\x on
SELECT label, (h).status, (h).from_helo, (h).from_rdns, (h).from_ip,
       (h).from_ident, (h).by_host, (h).protocol, (h).tls, (h).auth,
       (h).queue_id, (h).envelope_from, (h).envelope_for, (h).date,
       (h).ip_private, (h).hop
  FROM (SELECT label, spamlab.parse_received_header(value) AS h FROM v) s;
\x off

-- raw keeps the unfolded value
SELECT raw FROM spamlab.parse_received_header(E'from a (b\r\n [93.184.216.34])\r\n\tby c; Tue, 3 Nov 2009 10:00:00 +0000');

-- a whole message: hops numbered from the top, unparsable ones kept
CREATE TEMP TABLE msg (name text, raw bytea);
INSERT INTO msg VALUES ('chain', convert_to(
'Return-Path: <bob@example.org>
Received: from mx.example.net (mx.example.net [10.0.0.5])
	by imap.example.net (Postfix) with ESMTP id 1A2B3C
	for <alice@example.net>; Tue,  3 Nov 2009 10:00:02 +0000 (UTC)
Received: from mail.example.org (mail.example.org [93.184.216.34])
	by mx.example.net (Postfix) with ESMTPS id 4D5E6F
	for <alice@example.net>; Tue,  3 Nov 2009 10:00:01 +0000 (UTC)
Received: total garbage here
Received: from [192.168.1.7] (dsl.example.com [81.2.69.160])
	(Authenticated sender: bob) by mail.example.org (Postfix) with ESMTPSA
	id 7G8H9I; Tue,  3 Nov 2009 10:00:00 +0000 (UTC)
X-Originating-IP: [8.8.4.4]
Subject: hi

body
Received: from not.a.header (x [1.2.3.4]) by y; Tue, 3 Nov 2009 10:00:00 +0000
', 'UTF8'));
SELECT hop, status, from_helo, from_ip, by_host, protocol, tls, auth, date, ip_private
  FROM msg, spamlab.parse_received(msg.raw) WHERE name = 'chain';

-- origin_ip: first hop outside private and trusted networks
SELECT spamlab.origin_ip(raw) FROM msg WHERE name = 'chain';
SELECT spamlab.origin_ip(raw, '{93.184.216.0/24}') FROM msg WHERE name = 'chain';
SELECT spamlab.origin_ip(raw, '{93.184.216.0/24,81.2.69.0/24}') FROM msg WHERE name = 'chain';
SELECT spamlab.origin_ip(raw, '{93.184.216.0/24,81.2.69.0/24,8.8.4.0/24}') FROM msg WHERE name = 'chain';
SELECT spamlab.origin_ip(raw, '{::/0,0.0.0.0/0,NULL}') FROM msg WHERE name = 'chain';
SELECT spamlab.origin_ip(convert_to(E'X-Sender-IP: 10.1.1.1\nX-Originating-IP: (2001:4860:4860::8888)\n\nx', 'UTF8'));
SELECT spamlab.origin_ip(convert_to(E'Received: from localhost (localhost [127.0.0.1]) by x with LMTP; Tue, 3 Nov 2009\nSubject: none\n\nx', 'UTF8')) IS NULL AS no_origin;
SELECT spamlab.origin_ip('', '{}') IS NULL AS empty;
-- misuse is an error
SELECT spamlab.origin_ip(raw, '{{10.0.0.0/8}}') FROM msg WHERE name = 'chain';

-- hostile input: no ERROR, rows or NULLs
-- NUL bytes and invalid UTF-8 become spaces and U+FFFD
SELECT hop, status, from_helo, from_ip, by_host, raw
  FROM spamlab.parse_received(decode('Received: from ev\000il (x\377\376y [93.184.216.34]) by m\303x; Tue, 3 Nov 2009 10:00:00 +0000\012\012body', 'escape'));
-- a 1 MB header line
SELECT hop, status, length(raw), length(from_helo), by_host, date
  FROM spamlab.parse_received(convert_to('Received: from ' || repeat('a', 1048576) || ' ([93.184.216.34]) by mx.example; Tue, 3 Nov 2009 10:00:00 +0000' || chr(10) || chr(10), 'UTF8'));
SELECT status, length(raw), from_ip
  FROM spamlab.parse_received(convert_to('Received: ' || repeat('(', 500000) || repeat(')', 500000) || ' from a ([93.184.216.34]) by b' || chr(10), 'UTF8'));
SELECT status, length(raw) > 1000000 AS long, from_ip, by_host
  FROM spamlab.parse_received(convert_to('Received: from a ([93.184.216.34]) by b ' || repeat('x (y) ', 200000) || chr(10), 'UTF8'));
-- 10,000 Received headers
SELECT count(*), min(hop), max(hop), count(*) FILTER (WHERE status = 'ok') AS ok,
       count(DISTINCT from_ip)
  FROM spamlab.parse_received(convert_to(repeat('Received: from a (b [93.184.216.34]) by c with ESMTP id x; Tue, 3 Nov 2009 10:00:00 +0000' || chr(10), 10000) || chr(10) || 'body', 'UTF8'));
-- binary garbage after a Received name
SELECT count(*) <= 1 AS at_most_one
  FROM spamlab.parse_received('\x52656365697665643a20'::bytea ||
       (SELECT decode(string_agg(lpad(to_hex((i * 7919 + i / 7) % 256), 2, '0'), ''), 'hex')
          FROM generate_series(1, 100000) i));
SELECT count(*) FROM spamlab.parse_received('\x00ff00ff'::bytea);
SELECT count(*) FROM spamlab.parse_received('');
-- every function is IMMUTABLE STRICT PARALLEL SAFE
SELECT proname, provolatile, proisstrict, proparallel FROM pg_proc
 WHERE pronamespace = 'spamlab'::regnamespace
   AND proname IN ('parse_received', 'parse_received_header', 'origin_ip')
 ORDER BY 1;
-- stored messages are read only as far as their header block: compressed,
-- out-of-line and incompressible bodies, and a header block over 200 kB
CREATE TEMP TABLE big (name text, raw bytea);
ALTER TABLE big ALTER COLUMN raw SET STORAGE EXTENDED;
INSERT INTO big VALUES
('compressible', convert_to('Received: from a ([93.184.216.34]) by b; Tue, 3 Nov 2009 10:00:00 +0000' || chr(10) || 'Date: Tue, 3 Nov 2009 10:00:00 +0000' || chr(10) || chr(10) || repeat('body ', 1000000), 'UTF8')),
('incompressible', convert_to('Received: from a ([93.184.216.35]) by b; Tue, 3 Nov 2009 10:00:00 +0000' || chr(10) || chr(10), 'UTF8') ||
  (SELECT decode(string_agg(md5(i::text), ''), 'hex') FROM generate_series(1, 100000) i)),
('long header block', convert_to('Subject: ' || repeat('s', 200000) || chr(10) || 'Received: from a ([93.184.216.36]) by b; Tue, 3 Nov 2009 10:00:00 +0000' || chr(10) || chr(10) || repeat('body ', 100000), 'UTF8')),
('no header end', convert_to(repeat('X-Filler: ' || repeat('f', 100) || chr(10), 5000) || 'Received: from a ([93.184.216.37]) by b; Tue, 3 Nov 2009 10:00:00 +0000', 'UTF8'));
SELECT name, pg_column_size(big.raw) < length(big.raw) AS compressed, h.hop, h.from_ip,
       spamlab.origin_ip(big.raw), spamlab.mail_date(big.raw)
  FROM big, spamlab.parse_received(big.raw) h ORDER BY name;

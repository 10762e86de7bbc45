#!/usr/bin/perl
# sa_received.pl: SpamAssassin's own Received parser over mail files, for
# tests/test_received_sa.py.  For every Received header of every FILE it
# prints one JSON line: {"file", "n" (1 = topmost), "line" (unfolded, as
# SpamAssassin parses it), "relay" (its ip/rdns/helo/by/ident/id/envfrom/auth,
# or null when it skips or cannot parse the header)}.  Byte strings are
# written as Latin-1 code points so any byte survives the JSON.
use strict;
use warnings;
use JSON::PP;
use Mail::SpamAssassin::Message;
use Mail::SpamAssassin::Message::Metadata;
use Mail::SpamAssassin::Message::Metadata::Received;

my $json = JSON::PP->new->canonical->latin1;
for my $file (@ARGV) {
	open(my $fh, '<:raw', $file) or next;
	my @lines = <$fh>;
	close $fh;
	my $msg = Mail::SpamAssassin::Message->new({message => \@lines});
	my $meta = bless {}, 'Mail::SpamAssassin::Message::Metadata';
	my $n = 0;
	for my $line ($msg->get_header('Received')) {
		$n++;
		$line =~ s/\n[ \t]+/ /gs;
		$line =~ s/\s+\z//;
		$line =~ s/^\s+//;
		my $r = $meta->parse_received_line($line);
		my $relay;
		if (ref $r) {
			$relay = {map { $_ => $r->{$_} }
				grep { defined $r->{$_} }
				qw(ip rdns helo by ident id envfrom auth)};
		}
		print $json->encode({file => $file, n => $n, line => $line,
			relay => $relay}), "\n";
	}
	$msg->finish();
}

#!/usr/bin/perl
# sa_parse.pl: SpamAssassin 4's own Received parser and URI extractor over
# the given messages, repeated to COUNT; prints rates for bench/parse.
#   perl bench/sa_parse.pl COUNT FILE...
use strict;
use warnings;
use Time::HiRes qw(time);
use Mail::SpamAssassin;
use Mail::SpamAssassin::PerMsgStatus;

my ($count, @files) = @ARGV;
my @texts;
for my $f (@files) {
	open(my $fh, '<:raw', $f) or die "$f: $!";
	local $/;
	push @texts, scalar <$fh>;
}
my $sa = Mail::SpamAssassin->new({
	dont_copy_prefs => 1, local_tests_only => 1, use_bayes => 0,
	site_rules_filename => '/nonexistent', userprefs_filename => '/nonexistent',
	post_config_text => "use_auto_whitelist 0\n",
});
$sa->init(0);

my ($t_parse, $t_rcvd, $t_uri, $hops, $uris) = (0, 0, 0, 0, 0);
my $t_hdr = 0;    # raw text to hops the cheapest way: headers only, lazily
for my $i (0 .. $count - 1) {
	my $text = $texts[$i % @texts];
	my $h0 = time;
	my $hmsg = $sa->parse($text, 0);
	my $hpms = Mail::SpamAssassin::PerMsgStatus->new($sa, $hmsg);
	$hmsg->{metadata}->parse_received_headers($hpms, $hmsg);
	$t_hdr += time - $h0;
	$hpms->finish();
	$hmsg->finish();
	my $t0 = time;
	my $msg = $sa->parse($text, 1);
	my $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $msg);
	my $t1 = time;
	$msg->{metadata}->parse_received_headers($pms, $msg);
	my $t2 = time;
	my @u = $pms->get_uri_list();
	my $t3 = time;
	$hops += scalar @{$msg->{metadata}->{relays_untrusted} || []}
	       + scalar @{$msg->{metadata}->{relays_trusted} || []};
	$uris += scalar @u;
	$t_parse += $t1 - $t0;
	$t_rcvd += $t2 - $t1;
	$t_uri += $t3 - $t2;
	$pms->finish();
	$msg->finish();
}
printf "sa messages=%d parse_s=%.3f received_s=%.3f uri_s=%.3f lazy_received_s=%.3f hops=%d uris=%d\n",
	$count, $t_parse, $t_rcvd, $t_uri, $t_hdr, $hops, $uris;

//! The partial-connectivity scenarios of the OmniPaxos paper: quorum-loss,
//! constrained election and chained. Under each, a five-node cluster must
//! keep serving clients while the partition lasts (checked by the world:
//! operations called under the partition complete after four election
//! timeouts), and all the usual safety checks hold.

use synod_sim::{Profile, Scenario, SimConfig};

fn assert_serves_under(scenario: Scenario) {
    let mut served = 0;
    for seed in 1..=20 {
        let mut profile = Profile::named("calm").expect("exists");
        profile.nodes = 5;
        let mut cfg = SimConfig::new(seed, profile);
        cfg.scenario = Some(scenario);
        let report = synod_sim::run(cfg);
        assert!(
            report.ok(),
            "{} seed {seed}: {:?}\n  replay: synod_sim::run with scenario {} and seed {seed}",
            scenario.name(),
            report.violations,
            scenario.name()
        );
        served += report.stats.scenario_ops;
    }
    assert!(served > 0);
}

#[test]
fn quorum_loss_the_only_fully_connected_node_takes_over() {
    assert_serves_under(Scenario::QuorumLoss);
}

#[test]
fn constrained_election_an_outdated_node_connected_to_a_majority_takes_over() {
    assert_serves_under(Scenario::ConstrainedElection);
}

#[test]
fn chained_a_leader_cut_from_one_peer_keeps_serving() {
    assert_serves_under(Scenario::Chained);
}

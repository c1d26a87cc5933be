//! The policy lab: every case of every policy, graph and chip completes
//! every task, never beats its lower bound, and gives the same reports
//! when run again; the winners are exactly the cases within the tie of the
//! least makespan; the model-against-reality check maps measured
//! durations to the right tasks (a real run never beats the critical path
//! of its own measured durations).

use hostgraph::sched::BuiltIn;
use hostgraph_examples::lab::{self, Chip, Graph, Size, reality};
use hostgraph_examples::synthetic::Shape;

fn chips() -> Vec<Chip> {
    // The small chip and the 1,026-core one (the middle one adds time, not
    // coverage).
    Chip::all()
        .into_iter()
        .filter(|c| c.name != "b24t4")
        .collect()
}

#[test]
fn every_case_completes_within_its_bound_and_repeats_exactly() {
    let seeds = lab::seeds(2);
    let run = || {
        lab::run(
            &Graph::ALL,
            &chips(),
            &BuiltIn::ALL,
            &seeds,
            Size::Quick,
            |_| {},
        )
    };
    let cases = run().expect("the lab runs");
    assert_eq!(cases.len(), Graph::ALL.len() * 2 * BuiltIn::ALL.len());
    for c in &cases {
        assert_eq!(c.runs.len(), seeds.len());
        for r in &c.runs {
            let what = format!("{} on {} under {}", c.graph, c.chip.name, c.policy);
            assert_eq!(r.tasks, c.tasks, "{what}: every task ran");
            let ran: u64 = r.cores.iter().map(|k| k.tasks).sum();
            assert_eq!(ran as usize, c.tasks, "{what}: every task ran once");
            assert!(r.makespan_ns >= r.lower_bound_ns, "{what}: beat the bound");
            assert_eq!(r.cores.len() as u32, c.chip.cores(), "{what}");
        }
        // Different seeds draw different durations (bgemm's 128 tasks
        // included), so the runs differ.
        assert_ne!(c.runs[0].work_ns, c.runs[1].work_ns, "{}", c.graph);
    }
    let again = run().expect("the lab runs again");
    for (a, b) in cases.iter().zip(&again) {
        assert_eq!(
            a.runs, b.runs,
            "{} on {} under {}",
            a.graph, a.chip.name, a.policy
        );
    }
    // Graph sizes: paged_attention's 4 sequences of 64 blocks × 4 tasks,
    // bgemm's 128, the shapes' rounded sizes.
    let tasks = |g: Graph| cases.iter().find(|c| c.graph == g).unwrap().tasks;
    assert_eq!(tasks(Graph::PagedAttention), 1_024);
    assert_eq!(tasks(Graph::Bgemm), 128);
    assert_eq!(tasks(Graph::Synthetic(Shape::Wavefront)), 625);
    assert_eq!(tasks(Graph::Synthetic(Shape::BinaryTree)), 1_023);
}

#[test]
fn the_winners_are_the_cases_within_the_tie_of_the_best() {
    let cases = lab::run(
        &[Graph::Synthetic(Shape::Layered), Graph::Random],
        &chips(),
        &BuiltIn::ALL,
        &lab::seeds(1),
        Size::Quick,
        |_| {},
    )
    .unwrap();
    let winners = lab::winners(&cases);
    assert_eq!(winners.len(), 4, "one entry per graph and chip");
    for (graph, chip, best) in winners {
        let mine: Vec<_> = cases
            .iter()
            .filter(|c| c.graph == graph && c.chip == chip)
            .collect();
        let least = mine.iter().map(|c| c.median().makespan_ns).min().unwrap() as f64;
        for c in mine {
            let within = c.median().makespan_ns as f64 <= least * (1.0 + lab::TIE);
            assert_eq!(
                best.contains(&c.policy),
                within,
                "{graph} {} {}",
                chip.name,
                c.policy
            );
        }
        assert!(!best.is_empty());
    }
}

#[test]
fn a_real_run_never_beats_the_critical_path_of_its_measured_durations() {
    let chip: Chip = "b3t3".parse().unwrap();
    let wakes = reality::calibrate(chip).expect("the calibration runs");
    for graph in [Graph::Synthetic(Shape::BinaryTree), Graph::PagedAttention] {
        let c = reality::check(graph, chip, BuiltIn::RoundRobin, wakes).expect("the check runs");
        assert!(
            c.measured_ns >= c.replay_critical_path_ns,
            "{graph}: measured {} ns < critical path of its durations {} ns",
            c.measured_ns,
            c.replay_critical_path_ns
        );
        // Sleeping never ends early.
        assert!(c.stretch >= 1.0, "{graph}: stretch {}", c.stretch);
        assert!(c.replay_ns >= c.replay_critical_path_ns);
    }
}

//! What the integration tests share: random DAGs.

pub use hostgraph_examples::dag::Dag;

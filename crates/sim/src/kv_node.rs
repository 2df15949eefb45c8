//! The node the key-value simulator runs on the shared cluster: the Paxos
//! engine over the key-value store, stepped directly (until stage 2 gives
//! the simulators the shipped service node). Client writes, reads and the
//! operator's reconfigurations go in as engine inputs; replies come out as
//! the engine's actions.

use synod_kv::KvStore;
use synod_paxos::{Action, Input, Node};
use synod_simcluster::{Boot, Effect, NodeInput, NodeTime, SimNode};

pub struct KvNode(Node<KvStore>);

impl SimNode for KvNode {
    type Sm = KvStore;
    /// `Command`, `Propose`, `Read` or `Reconfigure`.
    type Input = Input;
    /// `Reply`, `ReadReply` or `ReconfigReply`.
    type Output = Action;
    type Spec = ();

    fn boot(_: &(), b: Boot) -> Self {
        let node = match b.recovered {
            None => Node::new(
                b.id,
                b.engine,
                b.initial,
                KvStore::new(),
                b.seed,
                b.local_us,
            ),
            Some(durable) => Node::recover(
                b.id,
                b.engine,
                b.initial,
                durable,
                KvStore::new(),
                b.seed,
                b.local_us,
            ),
        };
        KvNode(node)
    }

    fn engine(&self) -> &Node<KvStore> {
        &self.0
    }

    fn step(&mut self, at: NodeTime, input: NodeInput<Input>, effects: &mut Vec<Effect<Action>>) {
        let input = match input {
            NodeInput::Tick => Input::Tick,
            NodeInput::Peer { from, msg } => Input::Message { from, msg },
            NodeInput::Persisted { id } => Input::Persisted { id },
            NodeInput::Client(input) => input,
        };
        effects.extend(
            self.0
                .step(at.local_us, input)
                .into_iter()
                .map(|a| match a {
                    Action::Persist { id, records } => Effect::Persist { id, records },
                    Action::Send { to, msg } => Effect::Send { to, msg },
                    Action::Event(e) => Effect::Event(e),
                    reply => Effect::Output(reply),
                }),
        );
    }
}

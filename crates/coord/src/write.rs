//! Client writes: ZooKeeper's PrepRequestProcessor checks, in its order,
//! followed by DataTree's changes. Every change records how to undo it so a
//! failing multi can leave the tree exactly as it found it.

use std::sync::Arc;

use crate::acl;
use crate::node::{self, NodeKey, NodeStat, OwnerKind};
use crate::op::{Write, WriteResult};
use crate::path;
use crate::tree::{Removed, Tree, Trigger};
use crate::types::{perms, Acl, CreateMode, ErrorCode, EventKind, Id};

/// Everything a write needs besides its own fields.
pub(crate) struct Ctx<'a> {
    /// The ACL rules of the command (see `acl::Rules`).
    pub rules: acl::Rules,
    pub session: i64,
    pub auth: &'a [Id],
    pub time_ms: i64,
    pub zxid: i64,
}

/// How to take back one change.
pub(crate) enum Undo {
    /// A node was created under `parent`, whose stat was `parent_stat`
    /// (its child count included).
    Created {
        path: String,
        parent: String,
        parent_stat: NodeStat,
    },
    /// A node was deleted from under `parent`, whose stat was `parent_stat`.
    Deleted {
        node: Removed,
        parent: String,
        parent_stat: NodeStat,
    },
    /// A node's data was set; `key` is its old key, with the old data.
    DataSet { key: NodeKey, stat: NodeStat },
    AclSet {
        path: String,
        acl: Arc<[Acl]>,
        stat: NodeStat,
    },
}

impl Tree {
    /// Applies one write (which may be a multi) at `ctx.zxid`, pushing its
    /// triggers to `triggers` and its undo records to `undo`.
    pub(crate) fn apply_write(
        &mut self,
        ctx: &Ctx,
        w: &Write,
        undo: &mut Vec<Undo>,
        triggers: &mut Vec<Trigger>,
    ) -> Result<WriteResult, ErrorCode> {
        match w {
            Write::Create {
                path,
                data,
                acl,
                mode,
                ttl_ms,
            } => self.create(ctx, path, Some(data), acl, *mode, *ttl_ms, undo, triggers),
            Write::CreateNull {
                path,
                acl,
                mode,
                ttl_ms,
            } => self.create(ctx, path, None, acl, *mode, *ttl_ms, undo, triggers),
            Write::Delete { path, version } => self.delete(ctx, path, *version, undo, triggers),
            Write::SetData {
                path,
                data,
                version,
            } => self.set_data(ctx, path, Some(data), *version, undo, triggers),
            Write::SetNullData { path, version } => {
                self.set_data(ctx, path, None, *version, undo, triggers)
            }
            Write::SetAcl { path, acl, version } => self.set_acl(ctx, path, acl, *version, undo),
            Write::Check { path, version } => self.check_version(ctx, path, *version),
            Write::Multi(ops) => Ok(WriteResult::Multi(self.multi(ctx, ops, undo, triggers))),
            // Sync never reaches here from a Batch (it consumes no zxid);
            // inside a multi it is not an allowed op.
            Write::Sync { .. } => Err(ErrorCode::BadArguments),
        }
    }

    /// Applies every op or none; later ops see earlier ops' effects.
    fn multi(
        &mut self,
        ctx: &Ctx,
        ops: &[Write],
        undo: &mut Vec<Undo>,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Vec<WriteResult>, (usize, ErrorCode)> {
        let mut mine = Vec::new();
        let mut fired = Vec::new();
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let r = match op {
                Write::Multi(_) | Write::Sync { .. } => Err(ErrorCode::BadArguments),
                _ => self.apply_write(ctx, op, &mut mine, &mut fired),
            };
            match r {
                Ok(r) => results.push(r),
                Err(e) => {
                    self.rollback(mine);
                    return Err((i, e));
                }
            }
        }
        undo.append(&mut mine);
        triggers.append(&mut fired);
        Ok(results)
    }

    /// Takes back changes, newest first.
    pub(crate) fn rollback(&mut self, undo: Vec<Undo>) {
        for u in undo.into_iter().rev() {
            match u {
                Undo::Created {
                    path,
                    parent,
                    parent_stat,
                } => {
                    self.remove_node(&path);
                    let p = self.node_mut(&parent).expect("parent of an undone create");
                    p.stat = parent_stat;
                }
                Undo::Deleted {
                    node,
                    parent,
                    parent_stat,
                } => {
                    let p = self.node_mut(&parent).expect("parent of an undone delete");
                    p.stat = parent_stat;
                    self.reinsert_node(node);
                }
                Undo::DataSet { key, stat } => {
                    let current = self.replace_key(key);
                    self.node_mut(current.path()).expect("undone setData").stat = stat;
                }
                Undo::AclSet { path, acl, stat } => {
                    let id = self.state.acls.acquire(&acl);
                    let n = self.node_mut(&path).expect("undone setACL");
                    let undone = std::mem::replace(&mut n.acl, id);
                    n.stat = stat;
                    self.state.acls.release(undone);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        ctx: &Ctx,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        mode: CreateMode,
        ttl_ms: i64,
        undo: &mut Vec<Undo>,
        triggers: &mut Vec<Trigger>,
    ) -> Result<WriteResult, ErrorCode> {
        let owner = owner_for(mode, ttl_ms, ctx.session)?;
        let parent_path = path::parent_for_create(path)?;
        let acl = acl::fixup(acl, ctx.auth, ctx.rules)?;
        let parent = self.node(parent_path).ok_or(ErrorCode::NoNode)?;
        acl::check_under(ctx.rules, self.acl_of(&parent), perms::CREATE, ctx.auth)?;
        let full = if mode.is_sequential() {
            format!("{path}{:010}", parent.stat.cversion)
        } else {
            path.to_string()
        };
        path::validate_path(&full)?;
        if self.node(&full).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        if parent.owner_kind() == OwnerKind::Session {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }

        let parent_key = path::key(parent_path).to_string();
        let parent_acl = self.acl_of(&parent).clone();
        let p = self.node_mut(&parent_key).expect("parent checked above");
        let parent_stat = p.stat;
        p.stat.num_children += 1;
        p.stat.cversion = p.stat.cversion.wrapping_add(1);
        p.stat.pzxid = ctx.zxid;
        let n = self.insert_node(
            NodeKey::nullable(&full, data),
            &acl,
            NodeStat::created(ctx.zxid, ctx.time_ms, owner),
        );
        let stat = n.client_stat();
        let node_acl = self.acl_of(&n).clone();
        undo.push(Undo::Created {
            path: full.clone(),
            parent: parent_key.clone(),
            parent_stat,
        });
        triggers.push(node_trigger(&full, EventKind::Created, ctx.zxid, node_acl));
        triggers.push(node_trigger(
            &parent_key,
            EventKind::ChildrenChanged,
            ctx.zxid,
            parent_acl,
        ));
        Ok(WriteResult::Created { path: full, stat })
    }

    fn delete(
        &mut self,
        ctx: &Ctx,
        path: &str,
        version: i32,
        undo: &mut Vec<Undo>,
        triggers: &mut Vec<Trigger>,
    ) -> Result<WriteResult, ErrorCode> {
        let parent_path = path::parent_for_delete(path)?;
        let parent = self.node(parent_path).ok_or(ErrorCode::NoNode)?;
        acl::check_under(ctx.rules, self.acl_of(&parent), perms::DELETE, ctx.auth)?;
        let n = self.node(path).ok_or(ErrorCode::NoNode)?;
        check_version(n.stat.version, version)?;
        if n.stat.num_children != 0 {
            return Err(ErrorCode::NotEmpty);
        }
        // A lock lives on its znode: one with holders, waiters or a
        // lock-delay running is not deleted (see `lock`).
        if self.state.locks.pins(path) {
            return Err(ErrorCode::NotEmpty);
        }
        self.remove_child(path, ctx.zxid, undo, triggers);
        Ok(WriteResult::Deleted)
    }

    /// Deletes a childless node (DataTree.deleteNode): the parent loses
    /// the child and its pzxid moves up; its stored cversion does not move
    /// (the reported one does, through numChildren).
    pub(crate) fn remove_child(
        &mut self,
        path: &str,
        zxid: i64,
        undo: &mut Vec<Undo>,
        triggers: &mut Vec<Trigger>,
    ) {
        let (parent_path, _) = path::split(path);
        let parent_key = path::key(parent_path).to_string();
        let p = self.node_mut(&parent_key).expect("a node's parent exists");
        let parent_stat = p.stat;
        p.stat.num_children -= 1;
        p.stat.pzxid = p.stat.pzxid.max(zxid);
        let parent_acl_id = p.acl;
        let parent_acl = self.state.acls.get(parent_acl_id).clone();
        let node = self.remove_node(path);
        assert_eq!(node.stat.num_children, 0, "deleted a node with children");
        let node_acl = node.acl.clone();
        undo.push(Undo::Deleted {
            node,
            parent: parent_key.clone(),
            parent_stat,
        });
        triggers.push(node_trigger(path, EventKind::Deleted, zxid, node_acl));
        triggers.push(node_trigger(
            &parent_key,
            EventKind::ChildrenChanged,
            zxid,
            parent_acl,
        ));
    }

    fn set_data(
        &mut self,
        ctx: &Ctx,
        path: &str,
        data: Option<&[u8]>,
        version: i32,
        undo: &mut Vec<Undo>,
        triggers: &mut Vec<Trigger>,
    ) -> Result<WriteResult, ErrorCode> {
        path::validate_path(path)?;
        let n = self.node(path).ok_or(ErrorCode::NoNode)?;
        let node_acl = self.acl_of(&n).clone();
        acl::check_under(ctx.rules, &node_acl, perms::WRITE, ctx.auth)?;
        let new_version = check_version(n.stat.version, version)?;
        let old_key = self.replace_key(NodeKey::nullable(path, data));
        let n = self.node_mut(path).expect("checked above");
        let old_stat = n.stat;
        n.stat.version = new_version;
        n.stat.mtime = ctx.time_ms;
        n.stat.mzxid = ctx.zxid;
        let stat = n.client_stat();
        undo.push(Undo::DataSet {
            key: old_key,
            stat: old_stat,
        });
        triggers.push(node_trigger(
            path,
            EventKind::DataChanged,
            ctx.zxid,
            node_acl,
        ));
        Ok(WriteResult::SetData { stat })
    }

    fn set_acl(
        &mut self,
        ctx: &Ctx,
        path: &str,
        acl: &[Acl],
        version: i32,
        undo: &mut Vec<Undo>,
    ) -> Result<WriteResult, ErrorCode> {
        path::validate_path(path)?;
        let acl = acl::fixup(acl, ctx.auth, ctx.rules)?;
        let n = self.node(path).ok_or(ErrorCode::NoNode)?;
        acl::check_under(ctx.rules, self.acl_of(&n), perms::ADMIN, ctx.auth)?;
        let new_aversion = check_version(n.stat.aversion, version)?;
        let id = self.state.acls.acquire(&acl);
        let n = self.node_mut(path).expect("checked above");
        let old_stat = n.stat;
        n.stat.aversion = new_aversion;
        let old_id = std::mem::replace(&mut n.acl, id);
        let stat = n.client_stat();
        let old_acl = self.state.acls.get(old_id).clone();
        self.state.acls.release(old_id);
        undo.push(Undo::AclSet {
            path: path.to_string(),
            acl: old_acl,
            stat: old_stat,
        });
        Ok(WriteResult::SetAcl { stat })
    }

    fn check_version(&self, ctx: &Ctx, path: &str, version: i32) -> Result<WriteResult, ErrorCode> {
        path::validate_path(path)?;
        let n = self.node(path).ok_or(ErrorCode::NoNode)?;
        acl::check_under(ctx.rules, self.acl_of(&n), perms::READ, ctx.auth)?;
        check_version(n.stat.version, version)?;
        Ok(WriteResult::Checked)
    }
}

/// The stored owner of a new node, after ZooKeeper's TTL validation
/// (EphemeralType.validateTTL): TTL modes need 0 < ttl <= max; other modes
/// must not carry a TTL. ZooKeeper's plain create passes -1; we also take 0
/// as "no TTL" so a front door that defaults the field to 0 still works.
fn owner_for(mode: CreateMode, ttl_ms: i64, session: i64) -> Result<i64, ErrorCode> {
    if mode.is_ttl() {
        return node::ttl_owner(ttl_ms).ok_or(ErrorCode::BadArguments);
    }
    if ttl_ms > 0 {
        return Err(ErrorCode::BadArguments);
    }
    Ok(if mode.is_container() {
        node::CONTAINER_OWNER
    } else if mode.is_ephemeral() {
        session
    } else {
        0
    })
}

/// checkAndIncVersion: -1 matches any version; the new version wraps as a
/// Java int does.
fn check_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

pub(crate) fn node_trigger(path: &str, kind: EventKind, zxid: i64, acl: Arc<[Acl]>) -> Trigger {
    Trigger::Node {
        path: path.to_string(),
        kind,
        zxid,
        acl,
    }
}

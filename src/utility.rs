//! What the extension does around utility statements (a `ProcessUtility`
//! hook, installed from `_PG_init`):
//!
//! - **Before** a statement that changes the triggers of `rbac.tuples`,
//!   `rbac.attributes` or `rbac.schemas` (`ALTER TABLE` — `DISABLE` /
//!   `ENABLE TRIGGER`, as `pg_restore --disable-triggers` runs it — and
//!   `CREATE`, `DROP` or `ALTER … RENAME` of a trigger), the transaction is
//!   recorded as a writer of everything: writes made while a recording
//!   trigger is off go unrecorded, and this makes every snapshot that sees
//!   them key the read cache apart from every snapshot that does not (see
//!   `store::writes`).
//! - **Before** every utility statement, the index scans kept between
//!   calls are closed (see `store::scan_pool`).
//! - **After** `DISCARD ALL` (what session-mode poolers run between
//!   clients) or `RESET ALL`, the request subject is cleared, as those
//!   statements reset what `SET` set (see `api::identity`).

use pgrx::pg_sys;
use pgrx::prelude::*;

static mut PREVIOUS_HOOK: pg_sys::ProcessUtility_hook_type = None;

/// Installs the hook (from `_PG_init`, once per backend; the previous hook
/// is chained). Loaded by the first call of any of the extension's
/// functions, or preloaded: before any subject can be set, and, where the
/// registry of writers exists (preloading only), in every backend.
pub(crate) fn register_hook() {
    // SAFETY: _PG_init runs once per process, before any query of ours.
    unsafe {
        PREVIOUS_HOOK = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
    }
}

// Not `#[pg_guard]`: an error the statement raises (or another extension's
// hook) must reach the caller's handler as PostgreSQL raised it. pgrx's
// guard would catch its longjmp and raise a copy that keeps only the code,
// message, detail, hint and context — losing the cursor position (psql's
// `LINE 1: … ^`), the constraint, table and column names drivers read, and
// adding a Rust backtrace to the detail wherever `RUST_BACKTRACE` is set.
// So this frame holds nothing with a destructor (a longjmp may pass
// through it), the extension's own work runs in guarded functions before
// and after, and the next function is called unguarded.
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    // SAFETY: the hook contract: a valid planned utility statement, read
    // before it runs; the previous hook or the standard function is then
    // called with the arguments as given.
    unsafe {
        let resets = before_statement(pstmt);
        match PREVIOUS_HOOK {
            Some(previous) => previous(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc),
            None => crate::pg_ffi::standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc),
        }
        if resets {
            after_reset();
        }
    }
}

/// The work before a utility statement runs: records a change of the
/// recording triggers; returns whether the statement resets settings.
#[pg_guard]
unsafe extern "C-unwind" fn before_statement(pstmt: *mut pg_sys::PlannedStmt) -> bool {
    // SAFETY: `pstmt` is the hook's valid planned utility statement.
    unsafe {
        let stmt = (*pstmt).utilityStmt;
        // Kept scans hold references PostgreSQL counts as "in use" (and
        // would refuse DDL on the extension's tables for).
        crate::store::scan_pool::before_utility();
        // (A hot standby refuses these statements itself, and could not
        // give the transaction an id.)
        if !pg_sys::RecoveryInProgress() && changes_recording_triggers(stmt) {
            crate::store::writes::note_trigger_change();
        }
        resets_settings(stmt)
    }
}

/// The work after `DISCARD ALL` or `RESET ALL` ran.
#[pg_guard]
unsafe extern "C-unwind" fn after_reset() {
    crate::api::identity::clear_by_reset();
}

/// Whether `stmt` resets what `SET` set: `DISCARD ALL` or `RESET ALL`.
/// SAFETY: `stmt` is NULL or a valid node.
unsafe fn resets_settings(stmt: *const pg_sys::Node) -> bool {
    // SAFETY: the tag is read before the cast.
    unsafe {
        if stmt.is_null() {
            return false;
        }
        match (*stmt).type_ {
            pg_sys::NodeTag::T_DiscardStmt => (*stmt.cast::<pg_sys::DiscardStmt>()).target == pg_sys::DiscardMode::DISCARD_ALL,
            pg_sys::NodeTag::T_VariableSetStmt => {
                (*stmt.cast::<pg_sys::VariableSetStmt>()).kind == pg_sys::VariableSetKind::VAR_RESET_ALL
            }
            _ => false,
        }
    }
}

/// Whether `stmt` may change which triggers of a table whose writers are
/// recorded fire: any `ALTER TABLE` of it or attaching it as a partition
/// (cheap to over-count: one more writer of everything), and `CREATE`,
/// `DROP` and renaming of its triggers.
/// SAFETY: `stmt` is NULL or a valid node.
unsafe fn changes_recording_triggers(stmt: *const pg_sys::Node) -> bool {
    // SAFETY: the tag is read before the cast; the lists are the parser's.
    unsafe {
        if stmt.is_null() {
            return false;
        }
        match (*stmt).type_ {
            pg_sys::NodeTag::T_AlterTableStmt => {
                let alter = stmt.cast::<pg_sys::AlterTableStmt>();
                // Attaching one of them as a partition names the parent:
                // writes through it fire none of its statement triggers.
                is_recorded((*alter).relation) || {
                    let cmds = (*alter).cmds;
                    let n = if cmds.is_null() { 0 } else { (*cmds).length as usize };
                    (0..n).any(|i| {
                        let cmd = (*(*cmds).elements.add(i)).ptr_value as *mut pg_sys::AlterTableCmd;
                        !cmd.is_null()
                            && (*cmd).subtype == pg_sys::AlterTableType::AT_AttachPartition
                            && !(*cmd).def.is_null()
                            && (*(*cmd).def).type_ == pg_sys::NodeTag::T_PartitionCmd
                            && is_recorded((*(*cmd).def.cast::<pg_sys::PartitionCmd>()).name)
                    })
                }
            }
            pg_sys::NodeTag::T_CreateTrigStmt => is_recorded((*stmt.cast::<pg_sys::CreateTrigStmt>()).relation),
            pg_sys::NodeTag::T_RenameStmt => {
                let rename = stmt.cast::<pg_sys::RenameStmt>();
                (*rename).renameType == pg_sys::ObjectType::OBJECT_TRIGGER && is_recorded((*rename).relation)
            }
            pg_sys::NodeTag::T_DropStmt => {
                let drop = stmt.cast::<pg_sys::DropStmt>();
                (*drop).removeType == pg_sys::ObjectType::OBJECT_TRIGGER && {
                    // Each object is a name list: [schema,] table, trigger.
                    let objects = (*drop).objects;
                    let n = if objects.is_null() { 0 } else { (*objects).length as usize };
                    (0..n).any(|i| {
                        let names = (*(*objects).elements.add(i)).ptr_value as *mut pg_sys::List;
                        // [catalog,] [schema,] table, trigger; longer is
                        // the statement's own error to raise.
                        if names.is_null() || !(2..=4).contains(&(*names).length) {
                            return false;
                        }
                        let table = pg_sys::list_copy_head(names, (*names).length - 1);
                        is_recorded(pg_sys::makeRangeVarFromNameList(table))
                    })
                }
            }
            _ => false,
        }
    }
}

/// Whether `relation` names one of the tables whose writers are recorded
/// (resolved as the statement will resolve it; a missing one is not).
/// Raises nothing: a name that cannot be resolved (another database, a
/// schema the role may not use) is the statement's own error to raise,
/// as PostgreSQL words it.
/// SAFETY: `relation` is NULL or a valid RangeVar.
unsafe fn is_recorded(relation: *mut pg_sys::RangeVar) -> bool {
    // SAFETY: catalog lookups by name, no lock taken (the statement takes
    // its own) and no privilege checked.
    unsafe {
        if relation.is_null() || (*relation).relname.is_null() {
            return false;
        }
        // A catalog name is accepted when it is this database's.
        let catalog = (*relation).catalogname;
        if !catalog.is_null() {
            let here = pg_sys::get_database_name(pg_sys::MyDatabaseId);
            if here.is_null() || std::ffi::CStr::from_ptr(catalog) != std::ffi::CStr::from_ptr(here) {
                return false;
            }
        }
        let oid = if (*relation).schemaname.is_null() {
            // The search path, temporary schema first, as the statement.
            pg_sys::RelnameGetRelid((*relation).relname)
        } else {
            let schema = pg_sys::get_namespace_oid((*relation).schemaname, true);
            if schema == pg_sys::InvalidOid {
                return false;
            }
            pg_sys::get_relname_relid((*relation).relname, schema)
        };
        crate::store::writes::is_recorded_table(oid) && may_change_triggers(oid)
    }
}

/// Whether the current user may change the triggers of table `oid` at
/// all: as its owner (a member of the owner's role, a superuser), needed
/// for `ALTER TABLE` and `DROP TRIGGER`, or with the TRIGGER privilege,
/// enough for `CREATE TRIGGER`. Anyone else's statement fails PostgreSQL's
/// own privilege check and changes nothing; counting it would let a role
/// that may only connect make every backend's read cache start afresh
/// (a registry of writers filled by rolled-back subtransactions).
/// SAFETY: `oid` is an existing table's.
unsafe fn may_change_triggers(oid: pg_sys::Oid) -> bool {
    // SAFETY: catalog lookups of an existing relation.
    unsafe {
        let user = pg_sys::GetUserId();
        owns(oid, user) || pg_sys::pg_class_aclcheck(oid, user, pg_sys::ACL_TRIGGER as pg_sys::AclMode) == pg_sys::AclResult::ACLCHECK_OK
    }
}

#[cfg(not(feature = "pg18"))]
unsafe fn owns(oid: pg_sys::Oid, user: pg_sys::Oid) -> bool {
    // SAFETY: as the caller's.
    unsafe { pg_sys::pg_class_ownercheck(oid, user) }
}

#[cfg(feature = "pg18")]
unsafe fn owns(oid: pg_sys::Oid, user: pg_sys::Oid) -> bool {
    // SAFETY: as the caller's.
    unsafe { pg_sys::object_ownercheck(pg_sys::RelationRelationId, oid, user) }
}

//! The coordinator's side of members that embed their own answers: each member's own files
//! fetched and checked against its manifest, and each member's slice of the union's
//! `embeddings` and `features` built ([`super::own`]), said per member in `member_runs`.

use std::path::PathBuf;

use super::spot::{self, Fault};
use super::{manifest, own, union};
use crate::embed::EmbedError;
use crate::plan::member_runs::{MemberRun, MemberStatus};
use crate::plan::runs::RunRow;
use crate::probes::Suite;
use crate::remote::RemoteError;
use crate::session::Session;
use crate::store::Output;
use crate::store::table::RunRef;

/// A member's own `embeddings` (of the coordinator's embedder, `run.tag`) and `features`, each
/// fetched when its manifest signs it and checked against it; none fetched when it names
/// another embedder. `Err`: why the member is left out.
pub(super) async fn own_files(
    session: &Session,
    member_dir: &str,
    (member_output, run): (&Output, &RunRef),
    signed: &manifest::Manifest,
    embedder_id: &str,
) -> Result<Result<union::OwnFiles, String>, RemoteError> {
    let mut own = union::OwnFiles { embedder_id: embedder_id.to_owned(), embeddings: None, features: None };
    if embedder_id != run.tag.id {
        return Ok(Ok(own));
    }
    let paths = [
        crate::store::table::path::<crate::embed::table::EmbeddingsTable>(member_output, run),
        crate::store::table::path::<crate::features::table::FeaturesTable>(member_output, run),
    ];
    let mut got = Vec::new();
    for path in paths {
        let key = manifest::key_under(member_output.root(), &path);
        if !signed.signs(&key) {
            got.push(None);
            continue;
        }
        let Some(local) = session.fetch(&format!("{member_dir}/{key}")).await? else {
            return Ok(Err(format!("its manifest signs {key}, which is not published")));
        };
        if let Err(why) = signed.check_file(&key, &local) {
            return Ok(Err(why));
        }
        got.push(Some(local));
    }
    own.features = got.pop().flatten();
    own.embeddings = got.pop().flatten();
    Ok(Ok(own))
}

/// The members' parts of a night, with their `runs` rows.
pub(super) type Parts = Vec<(union::MemberPart, RunRow)>;

/// Where a night's slices are built (the coordinator's state folder; removed once the union's
/// tables are written).
pub(super) fn slices_dir(output: &Output, run: &RunRef) -> PathBuf {
    output.state_dir().join("union-slices").join(&run.id)
}

/// Each member's slice of the union's `embeddings` and `features` ([`own::slice`]), said per
/// member in its `member_runs` row and the log; a member whose own files do not hold up (rows
/// that do not follow its responses, a spot check that disagrees) is left out here, its row
/// turned `excluded` with the reason.
pub(super) fn member_slices(
    session: &mut Session,
    run: &RunRef,
    members: &mut [MemberRun],
    parts: Parts,
    suite: &Suite,
) -> Result<(Parts, Vec<own::Slice>), EmbedError> {
    // No member embedded its own answers: the tail embeds and describes the union as on any
    // night; slices would only write the same rows twice.
    if parts.iter().all(|(part, _)| part.own.is_none()) {
        for member in members.iter_mut().filter(|m| parts.iter().any(|(p, _)| p.member == m.member)) {
            member.embedded_by = Some("coordinator".to_owned());
            member.note = Some(own::NOT_OWN.to_owned());
        }
        return Ok((parts, Vec::new()));
    }
    let output = session.output().clone();
    // What a night stopped half-way left behind.
    std::fs::remove_dir_all(slices_dir(&output, run)).ok();
    let (instruments, cache) = session.kit_mut().expect("the coordinator's session derives");
    let (mut kept, mut slices) = (Vec::new(), Vec::new());
    for (part, row) in parts {
        let scratch = Output::with_state(slices_dir(&output, run).join(&part.member), output.state_dir());
        let kit = own::Kit { instruments, cache: &mut *cache, seed: spot::seed(run.date, &part.member) };
        let result = tokio::task::block_in_place(|| own::slice(&scratch, run, &part, &suite.probes, kit));
        let entry = members.iter_mut().find(|m| m.member == part.member).expect("a published member has its row");
        match result {
            Ok(slice) => {
                tracing::info!(member = %part.member, rows = slice.rows, "{}", slice.note);
                entry.embedded_by = Some(slice.embedded_by.to_owned());
                entry.note = Some(slice.note.clone());
                slices.push(slice);
                kept.push((part, row));
            }
            Err(Fault::Member(why)) => {
                tracing::warn!(member = %part.member, "left out of the night: {why}");
                let (member_run_id, suite_id) = (entry.member_run_id.take(), entry.suite_id.take());
                *entry = MemberRun {
                    status: MemberStatus::Excluded,
                    member_run_id,
                    suite_id,
                    note: Some(why),
                    ..MemberRun::missing(&part.member)
                };
            }
            Err(Fault::Ours(e)) => return Err(e),
        }
    }
    Ok((kept, slices))
}

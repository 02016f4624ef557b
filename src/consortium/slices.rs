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

/// What the union's `embeddings` and `features` are made of: each member's piece, in the
/// union's order, and the coordinator's one pass over the members it embedded.
pub(super) struct Pieces {
    pub pieces: Vec<own::Piece>,
    pub computed: Option<own::Computed>,
}

/// Each member's part of the union's `embeddings` and `features`: its own slice when its files
/// are usable ([`own::slice`]), else the coordinator's, all such members embedded and described
/// in one pass ([`own::compute`]); said per member in its `member_runs` row and the log. A
/// member whose own files do not hold up (rows that do not follow its responses, a spot check
/// that disagrees) is left out here, its row turned `excluded` with the reason. `None`: no
/// member's own files are used, so the tail embeds and describes the union as on any night
/// (pieces would only write the same rows twice).
pub(super) fn member_slices(
    session: &mut Session,
    run: &RunRef,
    members: &mut [MemberRun],
    parts: Parts,
    suite: &Suite,
) -> Result<(Parts, Option<Pieces>), EmbedError> {
    let usable: Vec<Result<PathBuf, String>> = parts.iter().map(|(p, _)| own::usable(p, &run.tag.id)).collect();
    for ((part, _), note) in parts.iter().zip(&usable).filter_map(|(p, u)| u.as_ref().err().map(|n| (p, n))) {
        tracing::info!(member = %part.member, "{note}");
        let entry = members.iter_mut().find(|m| m.member == part.member).expect("a published member has its row");
        entry.embedded_by = Some("coordinator".to_owned());
        entry.note = Some(note.clone());
    }
    if usable.iter().all(Result::is_err) {
        return Ok((parts, None));
    }
    let output = session.output().clone();
    // What a night stopped half-way left behind.
    std::fs::remove_dir_all(slices_dir(&output, run)).ok();
    let (instruments, cache) = session.kit_mut().expect("the coordinator's session derives");
    let (mut kept, mut pieces, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    for ((part, row), usable) in parts.into_iter().zip(usable) {
        let Ok(embeddings) = usable else {
            pieces.push(own::Piece::Coordinator { member: part.member.clone() });
            theirs.push(part.clone());
            kept.push((part, row));
            continue;
        };
        let scratch = Output::with_state(slices_dir(&output, run).join(&part.member), output.state_dir());
        let kit = own::Kit { instruments, cache: &mut *cache, seed: spot::seed(run.date, &part.member) };
        let result =
            tokio::task::block_in_place(|| own::slice(&scratch, run, (&part, &embeddings), &suite.probes, kit));
        let entry = members.iter_mut().find(|m| m.member == part.member).expect("a published member has its row");
        match result {
            Ok(slice) => {
                tracing::info!(member = %part.member, rows = slice.rows, "{}", slice.note);
                entry.embedded_by = Some("member".to_owned());
                entry.note = Some(slice.note.clone());
                pieces.push(own::Piece::Own(slice));
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
    // Every member whose own files were to be used is left out: the tail embeds the rest.
    if !pieces.iter().any(|p| matches!(p, own::Piece::Own(_))) {
        return Ok((kept, None));
    }
    let computed = match theirs.is_empty() {
        true => None,
        // Not a member's name: those have no '.'.
        false => {
            let scratch = Output::with_state(slices_dir(&output, run).join("coordinator.computed"), output.state_dir());
            let computed = tokio::task::block_in_place(|| {
                own::compute(&scratch, run, &theirs, &suite.probes, (instruments, &mut *cache))
            })?;
            tracing::info!(
                members = theirs.len(),
                rows = computed.rows,
                "embedded and described the other members' answers in one pass"
            );
            Some(computed)
        }
    };
    Ok((kept, Some(Pieces { pieces, computed })))
}

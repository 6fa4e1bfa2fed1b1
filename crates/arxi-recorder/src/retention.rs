//! Retention, as the sequencer applies it: which archived segments may be
//! pruned now, the `arxi.segment.pruned` envelope that records a pruning
//! (written with the `pruned` row, one transaction), and then the rows,
//! deleted a bounded batch per transaction so a pruning never holds up
//! the writes for long; finally the free pages go back to the file
//! system (incremental vacuum), a bounded number per transaction too.
//!
//! Rules (`RetentionPolicy`): only segments that are archived (an
//! `archived` row exists, written once the upload was confirmed), not
//! among the newest `keep_segments_min` sealed segments, and sealed longer
//! than `keep_age` ago; pruned segments are always a prefix `1..=n`. Seals
//! and segment rows are never deleted, so the seal chain still verifies
//! end to end and each pruned segment is represented by its seal and its
//! archive record. A crash between batches is harmless: the backlog is
//! read back from the database at the next check.

use arxi_format::log_tree::TILE_HEIGHT;
use arxi_store::{Reader, ReaderPool, StoreError};

use crate::RetentionPolicy;
use crate::chain::{Chain, Draft};
use crate::control;
use crate::control_types;
use crate::plan::{Op, Plan};

/// Archived runs one pruning covers at most (bounds its payload's list of
/// object keys).
pub(crate) const PRUNE_RUNS_MAX: u32 = 64;

/// The sequencer's retention state.
#[derive(Debug)]
pub(crate) struct Retention {
    policy: RetentionPolicy,
    last_check_us: i64,
    /// Rows at or below this seq remain to be deleted.
    backlog_through_seq: Option<u64>,
    /// Free pages remain to be given back.
    vacuum_pending: bool,
    /// The epoch of the plan that carries the last pruning: until a plan
    /// of that epoch or later has committed, the database does not show
    /// it yet, so no new pruning is decided (it would be the same one,
    /// and the store would refuse it, failing the writes of its plan).
    pruning_epoch: u64,
}

/// What one check decided to prune.
struct Pruning {
    first_segment: u64,
    last_segment: u64,
    first_seq: u64,
    last_seq: u64,
    object_keys: Vec<String>,
}

impl Retention {
    pub(crate) fn new(policy: RetentionPolicy) -> Self {
        Self {
            policy,
            last_check_us: i64::MIN,
            backlog_through_seq: None,
            vacuum_pending: false,
            pruning_epoch: 0,
        }
    }

    fn interval_us(&self) -> i64 {
        i64::try_from(self.policy.check_interval.as_micros()).unwrap_or(i64::MAX)
    }

    /// When the sequencer must wake for retention work next (µs).
    pub(crate) fn deadline_us(&self, now_us: i64) -> i64 {
        if self.backlog_through_seq.is_some() || self.vacuum_pending {
            // Deleting in batches: one batch per wake-up at most every
            // 10 ms while nothing else is written.
            return now_us.saturating_add(10_000);
        }
        self.last_check_us.saturating_add(self.interval_us())
    }

    /// True when there is retention work for a plan now.
    pub(crate) fn due(&self, now_us: i64) -> bool {
        self.backlog_through_seq.is_some()
            || self.vacuum_pending
            || now_us >= self.last_check_us.saturating_add(self.interval_us())
    }

    /// Adds this plan's retention work: a new pruning when the check is
    /// due, then one batch of row deletions or of vacuum. Read failures
    /// are logged and leave the work for the next plan: retention never
    /// fails a write.
    /// `committed_epoch` is the last plan the committer made durable.
    pub(crate) fn plan(
        &mut self,
        chain: &mut Chain,
        plan: &mut Plan,
        readers: &ReaderPool,
        committed_epoch: u64,
    ) {
        let now_us = chain.now_us();
        if now_us >= self.last_check_us.saturating_add(self.interval_us())
            && committed_epoch >= self.pruning_epoch
        {
            self.last_check_us = now_us;
            match readers.with(|reader| self.decide(&reader, now_us)) {
                Ok(Some(pruning)) => self.record(chain, plan, &pruning),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "retention check failed; tried again later"),
            }
        }
        if let Err(error) = self.batch(plan, readers) {
            tracing::warn!(%error, "retention batch skipped; tried again later");
        }
    }

    /// The pruning the policy allows now, if any.
    fn decide(&mut self, reader: &Reader<'_>, now_us: i64) -> Result<Option<Pruning>, StoreError> {
        let pruned = reader.pruned_through()?;
        let pruned_through = pruned.as_ref().map_or(0, |row| row.last_segment);
        if let Some(row) = &pruned
            && reader
                .first_envelope_seq()?
                .is_some_and(|seq| seq <= row.last_seq)
        {
            self.backlog_through_seq = Some(row.last_seq);
        }
        let archived_through = reader.last_archived()?.map_or(0, |row| row.last_segment);
        let sealed_through = crate::archive::position(reader)?.sealed_through;
        let keep_age_us = i64::try_from(self.policy.keep_age.as_micros()).unwrap_or(i64::MAX);
        let old_through = reader
            .last_segment_sealed_by(now_us.saturating_sub(keep_age_us))?
            .unwrap_or(0);
        let mut target = archived_through
            .min(sealed_through.saturating_sub(self.policy.keep_segments_min))
            .min(old_through);
        if target <= pruned_through {
            return Ok(None);
        }
        let runs = reader.archived_covering(pruned_through + 1, target, PRUNE_RUNS_MAX)?;
        if let Some(last_run) = runs.last()
            && runs.len() as u64 == u64::from(PRUNE_RUNS_MAX)
        {
            target = target.min(last_run.last_segment);
        }
        // A run reaching past the target is pruned only once all of it
        // may go, so a pruning always ends at a run's end.
        let mut runs: Vec<_> = runs
            .into_iter()
            .filter(|run| run.last_segment <= target)
            .collect();
        // At least one log-tree tile (16 envelopes) stays after the pruned
        // prefix: the tree's right edge is computed from the leaves of its
        // last partial tile, which must therefore never be pruned.
        let head_seq = reader.last_envelope()?.map_or(0, |row| row.seq);
        let kept_from = head_seq.saturating_sub(1 << TILE_HEIGHT);
        while let Some(run) = runs.last() {
            let reaches = reader
                .segment(run.last_segment)?
                .map_or(u64::MAX, |segment| segment.last_seq);
            if reaches <= kept_from {
                break;
            }
            runs.pop();
        }
        let Some(last_run) = runs.last() else {
            return Ok(None);
        };
        let first = reader.segment(pruned_through + 1)?;
        let last = reader.segment(last_run.last_segment)?;
        let (Some(first), Some(last)) = (first, last) else {
            return Err(StoreError::BadRow(format!(
                "segment rows {}..={} are missing",
                pruned_through + 1,
                last_run.last_segment
            )));
        };
        Ok(Some(Pruning {
            first_segment: first.segment_id,
            last_segment: last.segment_id,
            first_seq: first.first_seq,
            last_seq: last.last_seq,
            object_keys: runs.into_iter().map(|run| run.object_key).collect(),
        }))
    }

    /// Records a pruning: its envelope and its row, in this plan.
    fn record(&mut self, chain: &mut Chain, plan: &mut Plan, pruning: &Pruning) {
        let payload = control::segment_pruned(
            pruning.first_segment,
            pruning.last_segment,
            pruning.first_seq,
            pruning.last_seq,
            &pruning.object_keys,
        );
        let receipt =
            chain.append_envelope(plan, Draft::control(control_types::SEGMENT_PRUNED, payload));
        plan.ops.push(Op::RecordPruned(arxi_store::PrunedRow {
            first_segment: pruning.first_segment,
            last_segment: pruning.last_segment,
            first_seq: pruning.first_seq,
            last_seq: pruning.last_seq,
            seq: receipt.seq,
            pruned_at_us: chain.now_us(),
        }));
        if let Some(reason) = chain.auto_seal_due() {
            chain.seal_segment(plan, reason);
        }
        self.backlog_through_seq = Some(pruning.last_seq);
        self.pruning_epoch = plan.epoch;
        tracing::info!(
            first_segment = pruning.first_segment,
            last_segment = pruning.last_segment,
            "pruning archived segments"
        );
    }

    /// One batch of deletions, or of vacuum once they are done.
    fn batch(&mut self, plan: &mut Plan, readers: &ReaderPool) -> Result<(), StoreError> {
        if let Some(through_seq) = self.backlog_through_seq {
            let remaining = readers.with(|reader| reader.first_envelope_seq())?;
            if remaining.is_some_and(|seq| seq <= through_seq) {
                plan.ops.push(Op::DeletePruned {
                    through_seq,
                    rows_max: self.policy.delete_rows_per_batch,
                });
                return Ok(());
            }
            self.backlog_through_seq = None;
            self.vacuum_pending = true;
        }
        if self.vacuum_pending {
            let space = readers.with(|reader| reader.space())?;
            if space.freelist_pages == 0 || space.auto_vacuum != 2 {
                self.vacuum_pending = false;
            } else {
                plan.ops.push(Op::Vacuum {
                    pages_max: self.policy.vacuum_pages_per_batch,
                });
            }
        }
        Ok(())
    }
}

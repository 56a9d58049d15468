"""The partition runtime: what every exactly-once processor of fleetstate stands on.

A processor is a consumer-group member (`owner.PartitionOwner`) that runs one worker per
input partition it owns (`worker.PartitionWorker`). A worker keeps that partition's state in
memory and answers its input in batches, each batch ONE Kafka transaction (`transaction`):
the output records, the changes to its state (`changelog`: a compacted topic, one partition
per input partition) and the input offset. So the changelog always equals the state the
committed output was decided against, and:

- restoring a partition reads its changelog (what the live state costs, not the history)
  and then the tail of the source log after the position the changelog records, which is
  empty unless the changelog was lost: then the tail is the whole log, folded from offset 0
  with a progress line, and written back as a changelog;
- a batch whose transaction fails or is fenced leaves the worker's state ahead of the
  committed log: the worker is dropped and its partition restored, never half-applied;
- restoring happens outside the rebalance callback, in a task, with the partition paused
  and the group's heartbeats going; the partition resumes at the committed offset once ready.

Facts every partition must read but one partition writes (the Network catalogue) travel in
a compacted topic read whole by every process (`global_table`), written in the transaction
of the decision that made them. `follower` tails partitions of another topic.
"""

-- Where each projection stands in the event log: the next offset to read per topic partition.
-- A projector writes its read-model changes and this row in one transaction, so a restart
-- resumes exactly where the last committed batch ended (exactly-once projection).
create table projection_offsets (
    projection text not null,
    topic text not null,
    partition integer not null,
    next_offset bigint not null,
    updated_at timestamptz not null default now(),
    primary key (projection, topic, partition)
);

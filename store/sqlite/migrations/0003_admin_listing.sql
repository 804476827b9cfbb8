-- The admin API lists a subject's or a client's grants, in id order.
CREATE INDEX grants_subject_id ON grants (subject, id);
CREATE INDEX grants_client_id_id ON grants (client_id, id);

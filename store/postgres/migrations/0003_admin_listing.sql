-- The admin API lists a subject's or a client's grants, in id order (byte
-- order: the listing compares with COLLATE "C").
CREATE INDEX grants_subject_id ON grants (subject, id COLLATE "C");
CREATE INDEX grants_client_id_id ON grants (client_id, id COLLATE "C");
CREATE INDEX clients_id_c ON clients (id COLLATE "C");
CREATE INDEX grants_id_c ON grants (id COLLATE "C");

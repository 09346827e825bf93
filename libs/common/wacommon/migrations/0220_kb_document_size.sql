-- the uploaded file's size, shown in the console's document list (NULL for documents stored
-- before this column existed: their bytes were not kept)
ALTER TABLE kb_documents ADD COLUMN size_bytes bigint;

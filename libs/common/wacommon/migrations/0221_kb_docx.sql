-- Word documents (.docx) join the knowledge base's kinds
ALTER TABLE kb_documents DROP CONSTRAINT kb_documents_source_kind_check;
ALTER TABLE kb_documents ADD CONSTRAINT kb_documents_source_kind_check
    CHECK (source_kind IN ('txt', 'md', 'pdf', 'docx', 'csv', 'html'));

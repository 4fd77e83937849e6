DROP TABLE invoices;
DROP TABLE files;
DROP TABLE messages;
DROP TABLE publishes;
DROP TABLE project_members;
DROP TABLE projects;

DROP TABLE sealed_reveals;

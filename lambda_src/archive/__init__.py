"""The archiver (handler archive.handler.main): every distinct notification, from the history's
stream, as one flat row (columns.row) to Amazon Data Firehose, which writes Parquet to S3."""

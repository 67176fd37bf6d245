"""Log sources: file tailing and network listeners. They turn bytes into line batches."""

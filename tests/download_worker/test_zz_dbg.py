import time
from tests.download_worker.test_discogs_sync_job import *  # noqa

def test_dbg(sync_env, fake, tmp_path):
    from services.web.collection.jobs import enqueue_sync, job_status
    fake.set_collection("digger", list(range(120, 0, -1)))
    library_id = _library()
    log_path = tmp_path / "worker.log"
    worker = _start_worker(sync_env, log_path)
    job, created = enqueue_sync(library_id=library_id)
    for i in range(20):
        time.sleep(1)
        st = job_status(job)
        with session_scope() as s:
            runs = s.execute(text("select id,status,stage,pages_done,releases_done,releases_fetched,error from sync_runs")).all()
            acts = s.execute(text("select pid,state,wait_event_type,left(query,120) from pg_stat_activity where datname=current_database() and pid<>pg_backend_pid()")).all()
        print(i, st.job_status, st.progress and st.progress.stage, runs, fake.release_requests())
        if i in (5, 15): print(acts)
        if st.job_status in ("finished","failed"): break
    _stop_group(worker)
    print(log_path.read_text()[-3000:])

/* Worker threads add 1..PER_THREAD into a shared sum under a mutex. They
 * wait on a condition variable for a start signal, and the main thread waits
 * on another for all of them to finish. Prints the sum, which must be
 * NTHREADS * PER_THREAD * (PER_THREAD + 1) / 2. */
#include <pthread.h>
#include <stdio.h>

#define NTHREADS 8
#define PER_THREAD 10000L

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int started, go, finished;
static long sum;

static void *worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    started++;
    pthread_cond_broadcast(&done_cv);
    while (!go)
        pthread_cond_wait(&start_cv, &lock);
    pthread_mutex_unlock(&lock);

    for (long i = 1; i <= PER_THREAD; i++) {
        pthread_mutex_lock(&lock);
        sum += i;
        pthread_mutex_unlock(&lock);
    }

    pthread_mutex_lock(&lock);
    finished++;
    pthread_cond_signal(&done_cv);
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(void)
{
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        if (pthread_create(&th[i], NULL, worker, NULL) != 0) {
            printf("pthread_create failed\n");
            return 1;
        }

    pthread_mutex_lock(&lock);
    while (started < NTHREADS)
        pthread_cond_wait(&done_cv, &lock);
    go = 1;
    pthread_cond_broadcast(&start_cv);
    while (finished < NTHREADS)
        pthread_cond_wait(&done_cv, &lock);
    pthread_mutex_unlock(&lock);

    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    printf("threads %d sum %ld expected %ld\n", NTHREADS, sum,
           NTHREADS * PER_THREAD * (PER_THREAD + 1) / 2);
    return 0;
}
